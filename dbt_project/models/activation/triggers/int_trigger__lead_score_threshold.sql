-- Lead score crossed a threshold: a person entered the threshold segment (var `lead_score_segment`,
-- default `engaged_leads`) within the last `lead_score_trigger_days` days and is still in it.
-- The crossing is read from segment_membership_history, so it fires on the upward crossing only.
-- `engaged_leads` is engagement-based (see dbt_project/segments/engaged_leads.yml); point the var at a
-- segment on `lead_score` once a lead score model exists.
{{ config(materialized='table') }}

{% set seg = var('lead_score_segment', 'engaged_leads') %}
{% set days = var('lead_score_trigger_days', 1) %}

select
    'lead_score_threshold' as trigger_name,
    md5('lead_score_threshold|' || person_id || '|' || '{{ seg }}' || '|' || cast(entered_at as varchar))
        as idempotency_key,
    person_id,
    'email' as channel,
    'marketing' as purpose,
    2 as priority,
    entered_at as triggered_at,
    'entered segment {{ seg }}' as context
from {{ ref('segment_membership_history') }}
where segment = '{{ seg }}'
  and exited_at is null
  and entered_at >= cast({{ outflow_now() }} as timestamp) - interval '{{ days }} days'
