select
    event_id,
    {{ normalize_email('email') }} as email,
    {{ canonical_email('email') }} as email_canonical,
    campaign_id,
    lower(event_type) as event_type,
    lower(bounce_type) as bounce_type,
    occurred_at
from {{ source('raw', 'email_events') }}
