-- Every stay of a person in the control or holdout group of an audience: entered_at when they were first
-- assigned to it, exited_at when they left it (left the audience, lost consent, were erased, or the group's
-- percentage went down); null while still in it. Built incrementally like segment_membership_history
-- (macro outflow_stay_history): each run writes only the changes. Measurement compares outcomes (orders)
-- of these people with the treatment group over the same period.
{{ config(
    materialized='incremental',
    unique_key='stay_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

{{ outflow_stay_history(ref('audience_holdouts'), ['person_id', 'audience', 'measurement_group'], 'stay_id') }}
