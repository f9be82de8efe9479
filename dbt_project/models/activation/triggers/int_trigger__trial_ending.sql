-- Trial ending: a trial_started event whose trial (`trial_days`, default 14) ends within the next
-- `trial_notice_days` (default 3) days, with no order since the trial started. Marked transactional:
-- it is a service notice about the person's own trial, so marketing consent does not apply.
{{ config(materialized='table') }}

{% set trial_days = var('trial_days', 14) %}
{% set notice_days = var('trial_notice_days', 3) %}

with trials as (
    select person_id, event_id, occurred_at, occurred_at + interval '{{ trial_days }} days' as trial_ends_at
    from {{ ref('fct_events') }}
    where event_type = 'trial_started' and person_id is not null
),

latest as (
    select *, row_number() over (partition by person_id order by occurred_at desc nulls last, event_id) as rn
    from trials
)

select
    'trial_ending' as trigger_name,
    md5('trial_ending|' || l.person_id || '|' || l.event_id) as idempotency_key,
    l.person_id,
    'email' as channel,
    'transactional' as purpose,
    3 as priority,
    l.trial_ends_at - interval '{{ notice_days }} days' as triggered_at,
    'trial ends ' || cast(l.trial_ends_at as varchar) as context
from latest as l
where l.rn = 1
  and l.trial_ends_at > cast({{ outflow_now() }} as timestamp)
  and l.trial_ends_at <= cast({{ outflow_now() }} as timestamp) + interval '{{ notice_days }} days'
  and not exists (
      select 1 from {{ ref('fct_events') }} as o
      where o.event_type = 'order_completed' and o.person_id = l.person_id and o.occurred_at > l.occurred_at
  )
