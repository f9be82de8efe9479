select
    events.event_id,
    coalesce(emails.email_address, {{ normalize_email('events.email') }}) as email,
    emails.email_canonical,
    events.campaign_id,
    lower(events.event_type) as event_type,
    lower(events.bounce_type) as bounce_type,
    events.occurred_at
from {{ source('raw', 'email_events') }} as events
left join {{ ref('stg_emails__normalized') }} as emails on emails.email_raw = events.email
