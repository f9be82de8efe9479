-- Every trigger row ever produced, kept after it leaves its trigger's window: the map from a trigger's
-- idempotency_key (the key the sync engine logs) back to the person and channel, so the frequency cap can
-- count what was delivered. Incremental: each run appends the keys it has not seen yet.
{{ config(
    materialized='incremental',
    unique_key='idempotency_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

select
    c.idempotency_key,
    c.trigger_name,
    c.person_id,
    c.channel,
    c.purpose,
    c.triggered_at,
    cast({{ outflow_now() }} as timestamp) as first_seen_at
from {{ ref('int_triggers__candidates') }} as c
{% if is_incremental() %}
where not exists (select 1 from {{ this }} as h where h.idempotency_key = c.idempotency_key)
{% endif %}
