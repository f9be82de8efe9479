{#- The same rule-based lead score computed `lead_score_backtest_days` (30) before outflow_now(), from
    events before that moment only (int_lead_scores__engagement_points). models_ml compares it with the
    predictive model on the same out-of-time holdout, so neither sees the label window. -#}
with fit as (
    select * from {{ ref('int_lead_scores__fit') }}
),

engagement as (
    {{ lead_engagement_scores('backtest_') | indent(4) }}
)

select
    fit.person_id,
    fit.fit_score,
    engagement.engagement_score,
    cast({{ lead_score('fit.fit_score', 'engagement.engagement_score') }} as {{ outflow_double() }}) as lead_score,
    {{ lead_grade('fit.fit_score', 'engagement.engagement_score') }} as grade,
    {{ lead_backtest_as_of() }} as scored_as_of
from fit
inner join engagement using (person_id)
