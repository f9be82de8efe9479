{#- Every distinct raw phone of every source, in E.164 with its extension apart, as the normalization step
    parsed it (null with a reject_reason when it does not parse or is not valid for its region, so a typo never
    becomes an identifier). The region is the record's country (resolved by pycountry) when known. -#}
select
    phones.phone_raw,
    phones.country_raw,
    phones.source,
    coalesce(countries.iso2, phones.default_region) as region,
    lookup.phone_e164,
    lookup.phone_extension,
    lookup.reject_reason
from {{ ref('stg_phones__distinct') }} as phones
left join {{ source('outflow_identity', 'countries') }} as countries
    on countries.country_raw = phones.country_raw
left join {{ source('outflow_identity', 'phones_e164') }} as lookup
    on lookup.phone_raw = phones.phone_raw
    and lookup.region = coalesce(countries.iso2, phones.default_region)
