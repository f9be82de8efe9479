{#- The same rule-based lead score computed `lead_score_backtest_days` (30) before outflow_now(), from
    events before that moment only. models_ml compares it with the predictive model on the same
    out-of-time holdout, so neither sees the label window. -#}
{%- set as_of -%}({{ dbt.dateadd('day', -1 * var('lead_score_backtest_days', 30), outflow_now()) }}){%- endset -%}
with fit as (
    select * from {{ ref('int_lead_scores__fit') }}
),

engagement as (
    {{ lead_engagement_scores(as_of) | indent(4) }}
)

select
    fit.person_id,
    fit.fit_score,
    engagement.engagement_score,
    cast({{ lead_score('fit.fit_score', 'engagement.engagement_score') }} as {{ outflow_double() }}) as lead_score,
    {{ lead_grade('fit.fit_score', 'engagement.engagement_score') }} as grade,
    {{ as_of }} as scored_as_of
from fit
inner join engagement using (person_id)
