{#- Every distinct raw phone with the country it was captured in and the region it is parsed for: the
    record's country when known, else var('default_phone_region'). The phone step (outflow/phones.py)
    normalizes the ones it has not seen before into the source outflow_identity.phones_e164. -#}
select distinct
    phones.phone_raw,
    phones.country_raw,
    coalesce(countries.iso2, '{{ var("default_phone_region") or "US" }}') as region
from (
    select phone as phone_raw, country as country_raw
    from {{ source('raw', 'crm_contacts') }}
    where phone is not null
    union all
    select phone, cast(null as varchar) from {{ source('raw', 'orders') }} where phone is not null
    union all
    select identifier, cast(null as varchar) from {{ source('raw', 'consent_events') }} where identifier_type = 'phone'
    union all
    select identifier, cast(null as varchar)
    from {{ source('raw', 'erasure_requests') }}
    where identifier_type = 'phone'
) as phones
left join {{ ref('country_codes') }} as countries
    on lower(trim(phones.country_raw)) = countries.alias
