with phones as (
    select * from {{ ref('stg_phones__e164') }} where source = 'erasure'
)

select
    requests.request_id,
    lower(requests.identifier_type) as identifier_type,
    case lower(requests.identifier_type)
        when 'email' then {{ canonical_email('requests.identifier') }}
        when 'phone' then coalesce(phones.phone_e164, requests.identifier)
    end as identifier_value,
    requests.requested_at
from {{ source('raw', 'erasure_requests') }} as requests
left join phones
    on lower(requests.identifier_type) = 'phone'
    and phones.phone_raw = requests.identifier
