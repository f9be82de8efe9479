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

{#- Decayed engagement points per person with a scored event, at `as_of` (now_points, now_events) and at
    `backtest_as_of` (backtest_points, backtest_events), each from the events strictly before it within
    engagement_lookback_days: one scan of the events of both windows, one match of the rules, one aggregate with
    each window's figures filtered in it (int_lead_scores__engagement_points, read by the engagement score and the
    backtest). -#}
{% macro lead_engagement_points(as_of, backtest_as_of) -%}
{%- set lookback = -1 * var('engagement_lookback_days', 365) -%}
{%- set windows = {'now_': as_of, 'backtest_': backtest_as_of} -%}
with events as (
    select person_id, source, event_type, page_path, occurred_at
    from {{ ref('fct_events') }}
    where person_id is not null
      and occurred_at < greatest({{ as_of }}, {{ backtest_as_of }})
      and occurred_at >= least({{ dbt.dateadd('day', lookback, as_of) }}, {{ dbt.dateadd('day', lookback, backtest_as_of) }})
),

rules as (
    select * from {{ ref('lead_engagement_rules') }}
),

{#- An event's points depend only on its source, type and page: the rules are matched once per distinct kind
    (a few dozen, where events are millions) and the points joined back to the events. The kinds are read from
    fct_events whole, not from `events`: a CTE read twice is materialized (DuckDB writes every event in the
    window once more, which cost more than the rest of the query), and kinds outside the window join no event. The
    distinct is taken on the stored columns and the page made a key after it: no expression over every event (a
    null page and an empty one give the same key twice, one partition below, so still one rule per key). -#}
kinds as (
    select source, event_type, coalesce(page_path, '') as page_key
    from (select distinct source, event_type, page_path from {{ ref('fct_events') }}) as stored_kinds
),

kind_points as (
    select source, event_type, page_key, points
    from (
        select
            kinds.source,
            kinds.event_type,
            kinds.page_key,
            rules.points,
            row_number() over (
                partition by kinds.source, kinds.event_type, kinds.page_key
                order by (rules.page_pattern is null), rules.points desc nulls last
            ) as rule_rank
        from kinds
        inner join rules
            on rules.source = kinds.source
            and rules.event_type = kinds.event_type
            and (rules.page_pattern is null or position(lower(rules.page_pattern) in lower(kinds.page_key)) > 0)
    ) as ranked
    where rule_rank = 1
)

select
    events.person_id
    {%- for prefix, at in windows.items() %}
    {%- set within = 'events.occurred_at < ' ~ at ~ ' and events.occurred_at >= ' ~ dbt.dateadd('day', lookback, at) %},
    sum(kind_points.points * {{ lead_decay('cast(' ~ dbt.datediff('events.occurred_at', at, 'second') ~ ' as ' ~ outflow_double() ~ ') / 86400.0') }})
        filter (where {{ within }}) as {{ prefix }}points,
    count(*) filter (where {{ within }}) as {{ prefix }}events
    {%- endfor %}
from events
inner join kind_points
    on kind_points.source = events.source
    and kind_points.event_type = events.event_type
    and kind_points.page_key = coalesce(events.page_path, '')
group by events.person_id
{%- endmacro %}

{#- Engagement per person (every person of dim_profiles) from the points of int_lead_scores__engagement_points
    (`prefix`: 'now_' for now, 'backtest_' for the backtest): a person without a scored event in the window has none. -#}
{% macro lead_engagement_scores(prefix) -%}
select
    profiles.person_id,
    cast(coalesce(points.{{ prefix }}points, 0) as {{ outflow_double() }}) as engagement_points,
    cast(coalesce(points.{{ prefix }}events, 0) as integer) as scored_events,
    cast({{ lead_engagement_score('coalesce(points.' ~ prefix ~ 'points, 0)') }} as {{ outflow_double() }}) as engagement_score
from {{ ref('dim_profiles') }} as profiles
left join {{ ref('int_lead_scores__engagement_points') }} as points using (person_id)
{%- endmacro %}

{#- The profile attributes the fit rules read: the var `lead_fit_attributes`. -#}
{% macro lead_fit_attributes() -%}
    {{ return(var('lead_fit_attributes', ['job_title', 'employee_count', 'industry', 'country', 'company'])) }}
{%- endmacro %}

{#- The fit rules int_lead_scores__fit last applied (a table beside it, written by its post-hook
    lead_fit_keep_rules): its name, or none when there is none yet. -#}
{% macro lead_fit_rules_kept() -%}
    {%- set kept = adapter.get_relation(database=this.database, schema=this.schema,
        identifier=this.identifier ~ '_rules') -%}
    {{ return(none if kept is none else this.schema ~ '.' ~ this.identifier ~ '_rules') }}
{%- endmacro %}

{#- int_lead_scores__fit's post-hook: keep the rules it applied (the seed's rows for its attributes, the CTE
    applied_rules of its query), so that the next run scores every person again if they differ. -#}
{% macro lead_fit_keep_rules() -%}
    {%- set attributes = lead_fit_attributes() -%}
    {%- set kept = this.schema ~ '.' ~ this.identifier ~ '_rules' -%}
    drop table if exists {{ kept }};
    create table {{ kept }} as
    select rule_id, attribute, operator, value, min_value, max_value, points
    from {{ ref('lead_fit_rules') }}
    where attribute in ('{{ attributes | join("', '") }}')
{%- endmacro %}

{#- The backtest's as-of: lead_score_backtest_days (30) before outflow_now(), a SQL timestamp expression. -#}
{% macro lead_backtest_as_of() -%}
    ({{ dbt.dateadd('day', -1 * var('lead_score_backtest_days', 30), outflow_now()) }})
{%- endmacro %}
