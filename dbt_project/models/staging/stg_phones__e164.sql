{#- Every distinct raw phone, with the country it was captured in, normalized to E.164 by the phone step
    (null when it does not parse or is not valid for its region, so a typo never becomes an identifier). -#}
select
    phones.phone_raw,
    phones.country_raw,
    lookup.phone_e164
from {{ ref('stg_phones__distinct') }} as phones
left join {{ source('outflow_identity', 'phones_e164') }} as lookup
    on lookup.phone_raw = phones.phone_raw
    and lookup.region = phones.region
