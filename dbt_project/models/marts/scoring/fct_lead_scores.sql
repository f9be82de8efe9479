{#- One row per person: rule-based fit and engagement scores, the combined lead score and A1..D4
    grade, and the predictive score from models_ml when one has been written. -#}
with fit as (
    select * from {{ ref('int_lead_scores__fit') }}
),

engagement as (
    select * from {{ ref('int_lead_scores__engagement') }}
),

predictive as (
    select * from {{ ref('int_lead_scores__predictive') }}
)

select
    fit.person_id,
    fit.fit_score,
    engagement.engagement_score,
    cast({{ lead_score('fit.fit_score', 'engagement.engagement_score') }} as {{ outflow_double() }}) as lead_score,
    {{ lead_grade('fit.fit_score', 'engagement.engagement_score') }} as grade,
    fit.fit_rules,
    engagement.engagement_points,
    predictive.score as predictive_score,
    predictive.decile as predictive_decile,
    predictive.reason_codes as predictive_reason_codes,
    predictive.model_version,
    predictive.scored_at as predictive_scored_at,
    {{ outflow_now() }} as scored_as_of
from fit
inner join engagement using (person_id)
left join predictive using (person_id)
