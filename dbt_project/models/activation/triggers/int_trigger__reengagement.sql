-- Re-engagement: a known lead, subscriber or customer silent for at least `reengage_after_days`
-- (default 30) days, and not longer than that plus `reengage_window_days` (default 30). The key includes
-- last_seen_at, so it fires once per silence; activity followed by new silence fires again.
{{ config(materialized='table') }}

{% set after_days = var('reengage_after_days', 30) %}
{% set window_days = var('reengage_window_days', 30) %}

select
    'reengagement' as trigger_name,
    md5('reengagement|' || p.person_id || '|' || cast(p.last_seen_at as varchar)) as idempotency_key,
    p.person_id,
    'email' as channel,
    'marketing' as purpose,
    4 as priority,
    p.last_seen_at + interval '{{ after_days }} days' as triggered_at,
    'silent since ' || cast(p.last_seen_at as varchar) as context
from {{ ref('dim_profiles') }} as p
inner join {{ ref('dim_profile_traits') }} as t on t.person_id = p.person_id
where p.is_known
  and t.lifecycle_stage in ('customer', 'lead', 'subscriber')
  and p.last_seen_at <= cast({{ outflow_now() }} as timestamp) - interval '{{ after_days }} days'
  and p.last_seen_at > cast({{ outflow_now() }} as timestamp) - interval '{{ after_days + window_days }} days'
