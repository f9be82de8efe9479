{#- Lead scoring helpers. Every number is a dbt var with a default, so rules change without SQL edits:
    engagement_half_life_days (14), engagement_lookback_days (365), engagement_saturation_points (8),
    lead_score_fit_weight (0.5), lead_grade_fit_thresholds ([75, 50, 25]),
    lead_grade_engagement_thresholds ([75, 50, 25]). -#}

{#- Weight of an event `age_days` old: halves every `half_life_days`. -#}
{% macro lead_decay(age_days, half_life_days=none) -%}
    power(0.5, ({{ age_days }}) / cast({{ half_life_days if half_life_days is not none else var('engagement_half_life_days', 14) }} as {{ outflow_double() }}))
{%- endmacro %}

{#- Decayed points (unbounded) to a 0..100 score that saturates: 100 * (1 - exp(-points / saturation)). -#}
{% macro lead_engagement_score(points) -%}
    {{ outflow_round("100.0 * (1.0 - exp(-greatest(" ~ points ~ ", 0.0) / cast(" ~ var('engagement_saturation_points', 8) ~ " as " ~ outflow_double() ~ ")))", 1) }}
{%- endmacro %}

{#- The combined 0..100 lead score. -#}
{% macro lead_score(fit, engagement) -%}
    {%- set w = var('lead_score_fit_weight', 0.5) -%}
    {{ outflow_round(w ~ " * (" ~ fit ~ ") + (1 - " ~ w ~ ") * (" ~ engagement ~ ")", 1) }}
{%- endmacro %}

{#- A1..D4: the letter grades fit (A best), the digit grades engagement (1 best). -#}
{% macro lead_grade(fit, engagement) -%}
    {%- set f = var('lead_grade_fit_thresholds', [75, 50, 25]) -%}
    {%- set e = var('lead_grade_engagement_thresholds', [75, 50, 25]) -%}
    (case
        when ({{ fit }}) >= {{ f[0] }} then 'A'
        when ({{ fit }}) >= {{ f[1] }} then 'B'
        when ({{ fit }}) >= {{ f[2] }} then 'C'
        else 'D'
    end
    || case
        when ({{ engagement }}) >= {{ e[0] }} then '1'
        when ({{ engagement }}) >= {{ e[1] }} then '2'
        when ({{ engagement }}) >= {{ e[2] }} then '3'
        else '4'
    end)
{%- endmacro %}

{#- Engagement per person from events strictly before `as_of` (a SQL timestamp expression). -#}
{% macro lead_engagement_scores(as_of) -%}
with events as (
    select
        event_id,
        person_id,
        source,
        event_type,
        page_path,
        cast({{ dbt.datediff('occurred_at', as_of, 'second') }} as {{ outflow_double() }}) / 86400.0 as age_days
    from {{ ref('fct_events') }}
    where person_id is not null
      and occurred_at < {{ as_of }}
      and occurred_at >= {{ dbt.dateadd('day', -1 * var('engagement_lookback_days', 365), as_of) }}
),

rules as (
    select * from {{ ref('lead_engagement_rules') }}
),

matched as (
    select
        events.person_id,
        events.age_days,
        rules.points,
        row_number() over (
            partition by events.source, events.event_id
            order by (rules.page_pattern is null), rules.points desc nulls last
        ) as rule_rank
    from events
    inner join rules
        on rules.source = events.source
        and rules.event_type = events.event_type
        and (
            rules.page_pattern is null
            or position(lower(rules.page_pattern) in lower(coalesce(events.page_path, ''))) > 0
        )
),

per_person as (
    select
        person_id,
        sum(points * {{ lead_decay('age_days') }}) as engagement_points,
        count(*) as scored_events
    from matched
    where rule_rank = 1
    group by person_id
)

select
    profiles.person_id,
    cast(coalesce(per_person.engagement_points, 0) as {{ outflow_double() }}) as engagement_points,
    cast(coalesce(per_person.scored_events, 0) as integer) as scored_events,
    cast({{ lead_engagement_score('coalesce(per_person.engagement_points, 0)') }} as {{ outflow_double() }}) as engagement_score
from {{ ref('dim_profiles') }} as profiles
left join per_person using (person_id)
{%- endmacro %}
