-- Trigger activation model: one row per one-time activation, keyed by a stable idempotency_key.
-- Sync it in insert-only mode so each key fires once.
{{ config(materialized='table') }}

select
    idempotency_key,
    trigger_name,
    person_id,
    channel,
    purpose,
    email,
    phone,
    first_name,
    last_name,
    country,
    time_zone,
    triggered_at,
    send_after,
    context
from {{ ref('int_triggers__gated') }}
where trigger_name = 'trial_ending'
