-- The current control and holdout members of every audience, kept in the warehouse for measurement and
-- never synced (int_audience__activation keeps only the treatment group). Their history is in
-- audience_holdout_history.
{{ config(materialized='table') }}

select
    person_id,
    audience,
    segment,
    channel,
    measurement_group,
    holdout_pct,
    control_pct,
    holdout_bucket,
    control_bucket,
    cast({{ outflow_now() }} as timestamp) as assigned_at
from {{ ref('int_audience__assignments') }}
where measurement_group in ('control', 'holdout')
