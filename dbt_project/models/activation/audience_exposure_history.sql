-- Every stay of a person in an audience with its measurement group (treatment, holdout or control):
-- entered_at when the person was first assigned, exited_at when they left (null while in it). The treatment
-- group is synced; holdout and control are kept out. fct_campaign_conversions measures outcomes after the
-- first entry. Built incrementally like audience_holdout_history (macro outflow_stay_history).
{{ config(
    materialized='incremental',
    unique_key='stay_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

{{ outflow_stay_history(ref('int_audience__assignments'), ['person_id', 'audience', 'measurement_group'], 'stay_id') }}
