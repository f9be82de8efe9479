select
    event_id,
    nullif(trim(cookie_id), '') as cookie_id,
    nullif(trim(user_id), '') as user_id,
    {{ normalize_email('email') }} as email,
    {{ canonical_email('email') }} as email_canonical,
    lower(event_type) as event_type,
    page_path,
    occurred_at,
    received_at,
    received_at - occurred_at > interval '1 day' as is_late
from {{ source('raw', 'web_events') }}
