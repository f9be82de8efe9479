-- Journey sends for message syncs, from the journey evaluator's table (activations/journeys/engine.py).
-- A view, so a sync run right after an evaluation sees its sends; the pre-hook creates the table on a fresh
-- warehouse (the evaluator creates the same table with the same columns).
{{ config(materialized='view', pre_hook=outflow_journey_sends_table()) }}

select
    s.idempotency_key,
    'journey:' || s.journey || ':' || s.step as trigger_name,
    s.journey as journey_id,
    s.step as step_id,
    s.message,
    s.person_id,
    s.channel,
    s.purpose,
    p.email,
    p.first_name,
    p.last_name,
    p.country,
    p.timezone as time_zone,
    s.emitted_at as triggered_at,
    s.properties
from outflow_journeys.journey_sends as s
inner join {{ ref('dim_profiles') }} as p on p.person_id = s.person_id
where s.model = 'trg_journey_messages'
