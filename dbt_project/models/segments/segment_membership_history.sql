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

-- One full outer join finds both kinds of change: members without an open stay (entered) and open stays
-- without a member (exited). Only those rows are written.
changes as (
    select
        coalesce(o.person_id, c.person_id) as person_id,
        coalesce(o.segment, c.segment) as segment,
        coalesce(o.entered_at, cast({{ outflow_now() }} as timestamp)) as entered_at,
        case when c.person_id is null then cast({{ outflow_now() }} as timestamp) end as exited_at
    from open_stays as o
    full outer join current_members as c on c.person_id = o.person_id and c.segment = o.segment
    where o.person_id is null or c.person_id is null
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
