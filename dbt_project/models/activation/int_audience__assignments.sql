-- Priority groups, then holdouts.
-- * In a priority group a person lands only in the highest-priority audience (lowest `priority` number)
--   they are eligible for.
-- * The winning audience then keeps a holdout share out by hashing (audience, person_id) into [0, 10000):
--   bucket < holdout_pct * 100. Raising the percentage only adds people; nobody is reshuffled.
--   A held-out person is not moved to a lower-priority audience (that would contaminate the measurement).
{{ config(materialized='table') }}

with ranked as (
    select
        *,
        row_number() over (partition by person_id, priority_group order by priority, audience) as priority_rank
    from {{ ref('int_audience__eligible') }}
)

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
    {{ outflow_hash_bucket("audience || ':' || person_id") }} as holdout_bucket,
    {{ outflow_hash_bucket("audience || ':' || person_id") }} < holdout_pct * 100 as is_holdout
from ranked
where priority_rank = 1
