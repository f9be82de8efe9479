with phones as (
    select * from {{ ref('stg_phones__e164') }} where source = 'consent'
)

select
    consent.event_id,
    lower(consent.identifier_type) as identifier_type,
    case lower(consent.identifier_type)
        when 'email' then emails.email_canonical
        when 'phone' then {{ phone_identifier('phones.phone_e164', 'phones.phone_extension') }}
    end as identifier_value,
    lower(consent.purpose) as purpose,
    lower(consent.channel) as channel,
    lower(consent.status) as status,
    consent.source,
    consent.occurred_at
from {{ source('raw', 'consent_events') }} as consent
left join phones
    on lower(consent.identifier_type) = 'phone'
    and phones.phone_raw = consent.identifier
left join {{ source('outflow_identity', 'emails') }} as emails
    on lower(consent.identifier_type) = 'email'
    and emails.email_raw = consent.identifier
