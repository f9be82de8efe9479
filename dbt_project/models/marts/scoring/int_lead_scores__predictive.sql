{#- The predictive scores written by `outflow score run` (models_ml). The pre-hook creates the source
    table empty on the first run, so this model and fct_lead_scores work before any model is trained. -#}
{{ config(pre_hook="create table if not exists " ~ var('ml_scores_schema', 'main') ~ ".ml_lead_scores (person_id varchar not null, score {{ outflow_double() }}, decile integer, reason_codes varchar, model_version varchar, scored_at timestamp)") }}
select
    person_id,
    cast(score as {{ outflow_double() }}) as score,
    cast(decile as integer) as decile,
    reason_codes,
    model_version,
    scored_at
from {{ source('ml', 'ml_lead_scores') }}
