-- The holdout/control group of every audience, kept in the warehouse for measurement and never synced.
{{ config(materialized='table') }}

select
    person_id,
    audience,
    segment,
    channel,
    holdout_pct,
    holdout_bucket,
    cast({{ outflow_now() }} as timestamp) as assigned_at
from {{ ref('int_audience__assignments') }}
where is_holdout
