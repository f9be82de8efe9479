select
    web.event_id,
    nullif(trim(web.cookie_id), '') as cookie_id,
    nullif(trim(web.user_id), '') as user_id,
    coalesce(emails.email_address, {{ normalize_email('web.email') }}) as email,
    emails.email_canonical,
    lower(web.event_type) as event_type,
    web.page_path,
    web.occurred_at,
    web.received_at,
    web.received_at - web.occurred_at > interval '1 day' as is_late
from {{ source('raw', 'web_events') }} as web
left join {{ ref('stg_emails__normalized') }} as emails on emails.email_raw = web.email
