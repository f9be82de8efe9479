{#- Incremental, keyed by load time: received_at, when the event reached the warehouse. Each run restages the
    events received within incremental_lookback_days of the newest one staged (a batch loaded late still lands)
    and replaces them by event_id (delete+insert). Configured in dbt_project.yml; see docs/incremental.md.
    Only the columns a reader uses are written (a late event is received_at - occurred_at > 1 day; no reader kept
    that flag). A table stored with a column dropped since is rebuilt whole (meta outflow_layout_dropped). -#}
{{ config(meta={'outflow_layout_dropped': ['is_late']}) }}
select
    web.event_id,
    nullif(trim(web.cookie_id), '') as cookie_id,
    nullif(trim(web.user_id), '') as user_id,
    coalesce(emails.email_address, {{ normalize_email('web.email') }}) as email,
    emails.email_canonical,
    lower(web.event_type) as event_type,
    web.page_path,
    web.occurred_at,
    web.received_at
from {{ source('raw', 'web_events') }} as web
left join {{ source('outflow_identity', 'emails') }} as emails on emails.email_raw = web.email
{% if is_incremental() %}
where web.received_at >= {{ outflow_incremental_since('received_at') }}
{% endif %}
