{#- The journey sends table the journey evaluator writes (activations/journeys/engine.py, same columns), created
    if missing so the journey send models can be views over it on a fresh warehouse. A list of statements, one
    each (a pre_hook list): Spark runs one statement per call. -#}
{% macro outflow_journey_sends_table() -%}
{{ return([
    "create schema if not exists outflow_journeys",
    "create table if not exists outflow_journeys.journey_sends (
    idempotency_key varchar, journey varchar, step varchar, sync_name varchar, model varchar, person_id varchar,
    channel varchar, purpose varchar, message varchar, properties varchar, entered_at timestamp,
    emitted_at timestamp, run_id varchar
)",
]) }}
{%- endmacro %}
