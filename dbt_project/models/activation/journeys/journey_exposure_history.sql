-- Every admission of a person into a journey with a holdout (var journey_holdout_pct > 0), with its arm: the
-- exposures fct_campaign_conversions measures. Admissions come from the journey evaluator's state
-- (outflow_journeys.journey_state, one row per person, journey and entry, kept after exit); the arm is the
-- journey's control arm (macro outflow_held_out, a stable hash of journey and person): a held-out person walks
-- the journey but int_journey__sends_gated drops every send of theirs except transactional ones.
-- Incremental: each run appends the admissions it has not seen, so an exposure's arm never changes.
{{ config(
    materialized='incremental',
    unique_key='exposure_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

-- depends_on: {{ source('outflow_journeys', 'journey_sends') }}  (the evaluator writes state and sends together)
{%- set state = adapter.get_relation(database=target.database, schema='outflow_journeys', identifier='journey_state') if execute else none %}

with admissions as (
{%- if state is not none %}
    select journey, person_id, entry_seq, entered_at from {{ state }}
{%- else %}
    select cast(null as varchar) as journey, cast(null as varchar) as person_id, cast(null as bigint) as entry_seq,
        cast(null as timestamp) as entered_at
    where false
{%- endif %}
),

armed as (
    select
        journey || ':' || person_id || ':' || cast(entry_seq as varchar) as exposure_id,
        journey,
        person_id,
        entry_seq,
        {{ outflow_holdout_pct('journey_holdout_pct', 'journey') }} as holdout_pct,
        case
            when {{ outflow_held_out('journey', 'journey_holdout_pct', 'journey', 'person_id', "'marketing'") }}
                then 'holdout'
            else 'treated'
        end as arm,
        cast(entered_at as timestamp) as exposed_at
    from admissions
)

select *, cast({{ outflow_now() }} as timestamp) as first_seen_at
from armed
where holdout_pct > 0
{% if is_incremental() %}
  and not exists (select 1 from {{ this }} as h where h.exposure_id = armed.exposure_id)
{% endif %}
