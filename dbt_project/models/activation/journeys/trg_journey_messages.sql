-- Journey sends for message syncs, after the consent gate and frequency cap (int_journey__sends_gated).
-- A view, so a sync run right after an evaluation sees its sends.
{{ config(materialized='view') }}

select
    s.idempotency_key,
    'journey:' || s.journey || ':' || s.step as trigger_name,
    s.journey as journey_id,
    s.step as step_id,
    s.message,
    s.person_id,
    s.channel,
    s.purpose,
    s.email,
    s.first_name,
    s.last_name,
    s.country,
    s.timezone as time_zone,
    s.emitted_at as triggered_at,
    s.properties
from {{ ref('int_journey__sends_gated') }} as s
where s.model = 'trg_journey_messages'
