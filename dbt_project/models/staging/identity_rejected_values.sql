{#- Every raw identifier value that normalization rejected, with the reason: nothing is dropped silently.
    Countries that name no country are listed too (their records' phones fall back to the default region). -#}
select 'email' as identifier_type, email_raw as raw_value, cast(null as varchar) as region, reject_reason
from {{ ref('stg_emails__normalized') }}
where reject_reason is not null and reject_reason <> 'empty'
union all
select distinct 'phone', phone_raw, region, reject_reason
from {{ ref('stg_phones__e164') }}
where reject_reason is not null and reject_reason <> 'empty'
union all
select 'country', countries.country_raw, cast(null as varchar), 'names no country known to pycountry'
from {{ ref('stg_countries__distinct') }} as countries
left join {{ source('outflow_identity', 'countries') }} as lookup
    on lookup.country_raw = countries.country_raw
where lookup.iso2 is null and trim(countries.country_raw) <> ''
