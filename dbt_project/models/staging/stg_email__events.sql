{#- Incremental: the email provider's export carries no arrival time, so occurred_at is the load key. Each run
    restages the events of the last incremental_lookback_days before the newest one staged (an export that lags
    lands) and replaces them by event_id (delete+insert). Configured in dbt_project.yml; see docs/incremental.md.
    Only the columns a reader uses are written: the address's matching form (email_canonical), not the address
    itself (no reader used it, and writing it cost a quarter of this model). A table stored with it is rebuilt
    whole (meta outflow_layout_dropped). -#}
{{ config(meta={'outflow_layout_dropped': ['email']}) }}
select
    events.event_id,
    emails.email_canonical,
    events.campaign_id,
    lower(events.event_type) as event_type,
    lower(events.bounce_type) as bounce_type,
    events.occurred_at
from {{ source('raw', 'email_events') }} as events
left join {{ source('outflow_identity', 'emails') }} as emails on emails.email_raw = events.email
{% if is_incremental() %}
where events.occurred_at >= {{ outflow_incremental_since('occurred_at') }}
{% endif %}
