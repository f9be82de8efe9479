-- Segment membership with entered_at / exited_at, one row per stay of a person in a segment.
-- Incremental: each run writes only the changes (people who entered, stays that ended), so the written
-- volume grows with the changes, not with the number of profiles.
{{ config(
    materialized='incremental',
    unique_key='membership_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

with current_members as (
    select person_id, segment from {{ ref('segment_membership') }}
),

{% if is_incremental() %}
open_stays as (
    select person_id, segment, entered_at from {{ this }} where exited_at is null
),

entered as (
    select c.person_id, c.segment, cast({{ outflow_now() }} as timestamp) as entered_at,
        cast(null as timestamp) as exited_at
    from current_members as c
    left join open_stays as o on o.person_id = c.person_id and o.segment = c.segment
    where o.person_id is null
),

exited as (
    select o.person_id, o.segment, o.entered_at, cast({{ outflow_now() }} as timestamp) as exited_at
    from open_stays as o
    left join current_members as c on c.person_id = o.person_id and c.segment = o.segment
    where c.person_id is null
),

changes as (
    select * from entered
    union all
    select * from exited
)
{% else %}
changes as (
    select person_id, segment, cast({{ outflow_now() }} as timestamp) as entered_at,
        cast(null as timestamp) as exited_at
    from current_members
)
{% endif %}

select
    md5(person_id || '|' || segment || '|' || cast(entered_at as varchar)) as membership_id,
    person_id,
    segment,
    entered_at,
    exited_at
from changes
