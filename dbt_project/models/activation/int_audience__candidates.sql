-- Everyone who qualifies for an audience by segment membership, before any gate.
{{ config(materialized='table') }}

select
    m.person_id,
    d.audience,
    d.segment,
    d.channel,
    d.purpose,
    d.is_transactional,
    d.holdout_pct,
    d.priority_group,
    d.priority
from {{ ref('segment_membership') }} as m
inner join {{ ref('audience_definitions') }} as d on d.segment = m.segment
