-- Every gated trigger row of a trigger with a holdout (trigger_holdout_pct > 0), with its arm, kept after it
-- leaves the trigger's window: the exposures fct_campaign_conversions measures (treated: the trigger fired and
-- the row went to the trigger model; holdout: it fired and was held back). Incremental like trigger_history:
-- each run appends the keys it has not seen yet, so a person's arm and exposure time never change.
{{ config(
    materialized='incremental',
    unique_key='idempotency_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

select
    a.idempotency_key,
    a.trigger_name,
    a.person_id,
    a.channel,
    a.purpose,
    a.arm,
    a.holdout_pct,
    cast(coalesce(a.triggered_at, {{ outflow_now() }}) as timestamp) as exposed_at,
    cast({{ outflow_now() }} as timestamp) as first_seen_at
from {{ ref('int_triggers__arms') }} as a
where a.holdout_pct > 0 and a.purpose <> 'transactional'
{% if is_incremental() %}
  and not exists (select 1 from {{ this }} as h where h.idempotency_key = a.idempotency_key)
{% endif %}
