-- Priority groups, then the measurement groups (control and holdout).
-- * In a priority group a person lands only in the highest-priority audience (lowest `priority` number)
--   they are eligible for.
-- * Control: a global control group, the same people for every marketing audience, kept out of all of them
--   to measure the whole programme: bucket(`control:` || person_id) < var `audience_control_pct` x 100.
--   Transactional audiences ignore it (service messages always go).
-- * Holdout: each audience keeps its own share out by hashing (audience, person_id) into [0, 10000):
--   bucket < holdout_pct x 100.
-- Both are hash buckets: raising a percentage only adds people; nobody is reshuffled. A person in control or
-- holdout is not moved to a lower-priority audience (that would contaminate the measurement).
{{ config(materialized='table') }}

{% set control_pct = var('audience_control_pct', 5) %}

with ranked as (
    select
        *,
        row_number() over (partition by person_id, priority_group order by priority, audience) as priority_rank
    from {{ ref('int_audience__eligible') }}
),

bucketed as (
    select
        person_id,
        audience,
        segment,
        channel,
        purpose,
        is_transactional,
        priority_group,
        priority,
        holdout_pct,
        cast({{ control_pct }} as {{ outflow_double() }}) as control_pct,
        {{ outflow_hash_bucket("audience || ':' || person_id") }} as holdout_bucket,
        {{ outflow_hash_bucket("'control:' || person_id") }} as control_bucket
    from ranked
    where priority_rank = 1
)

select
    *,
    not is_transactional and control_bucket < control_pct * 100 as is_control,
    holdout_bucket < holdout_pct * 100 as is_holdout,
    case
        when not is_transactional and control_bucket < control_pct * 100 then 'control'
        when holdout_bucket < holdout_pct * 100 then 'holdout'
        else 'treatment'
    end as measurement_group
from bucketed
