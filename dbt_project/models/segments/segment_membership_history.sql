-- Segment membership with entered_at / exited_at, one row per stay of a person in a segment.
-- Incremental: each run writes only the changes (people who entered, stays that ended), so the written
-- volume grows with the changes, not with the number of profiles (macro outflow_stay_history).
{{ config(
    materialized='incremental',
    unique_key='membership_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

{{ outflow_stay_history(ref('segment_membership'), ['person_id', 'segment'], 'membership_id') }}
