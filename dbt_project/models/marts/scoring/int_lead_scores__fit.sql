{#- Fit score: firmographic/demographic rules from the seed `lead_fit_rules`. Per attribute the best
    matching rule counts; the score is the sum over attributes, capped to 0..100. The attributes read
    from dim_profiles are the var `lead_fit_attributes`.
    Incremental (delete+insert on person_id; on Spark a table rebuilt whole) when every attribute is a golden-record
    field (var `survivorship`): a run scores only the persons the golden record logged as touched since its mark
    (int_profiles__touched_persons, as dim_profiles reads it), and a tombstone (no fit_score) for each of them no
    longer in dim_profiles, which the post-hook deletes. Every person is scored again when the rules it applies
    (the seed's rows for these attributes) differ from the ones it kept (int_lead_scores__fit_rules) or it has
    no mark (docs/incremental.md, "Traits and scores"). -#}
{%- set attributes = lead_fit_attributes() -%}
{%- set attribute_list = "'" ~ (attributes | join("', '")) ~ "'" %}
{{ config(**profiles_person_config([
    "{{ profiles_reader_post_hook('fit_score is null', prune=true) }}",
    "{{ lead_fit_keep_rules() }}",
    ])) }}
{#- only the touched persons: attributes that only the golden record sets, a log, the rules it last applied -#}
{%- set touched_only = is_incremental() and profiles_table_exists('touched_persons')
    and lead_fit_rules_kept() is not none
    and (attributes | reject('in', var('survivorship').keys()) | list | length) == 0 %}
with applied_rules as (
    select rule_id, attribute, operator, value, min_value, max_value, points
    from {{ ref('lead_fit_rules') }}
    where attribute in ({{ attribute_list }})
),

{%- if touched_only %}

rescore_all as (
    -- the rules changed since the last run, or it has no mark: every person
    select 1 as rescore from (
        select * from applied_rules
        except
        select rule_id, attribute, operator, value, min_value, max_value, points from {{ lead_fit_rules_kept() }}
    ) as added
    union all
    select 1 from (
        select rule_id, attribute, operator, value, min_value, max_value, points from {{ lead_fit_rules_kept() }}
        except
        select * from applied_rules
    ) as removed
    union all
    select 1 where not exists (
        select 1 from {{ outflow_watermarks_relation(profiles_marks()) }}
        where model = '{{ this.identifier }}' and name = 'touched_at'
    )
),

touched_persons as (
    {{ profiles_touched_since_mark() }}
),

profiles as (
    select * from {{ ref('dim_profiles') }}
    where exists (select 1 from rescore_all)
        or person_id in (select person_id from touched_persons)
),
{%- else %}

profiles as (
    select * from {{ ref('dim_profiles') }}
),
{%- endif %}

rules as (
    select * from applied_rules
),

attribute_values as (
    {%- for attribute in attributes %}
    select
        person_id,
        '{{ attribute }}' as attribute,
        nullif(trim(cast({{ attribute }} as varchar)), '') as value_text,
        {{ outflow_try_cast_double(attribute) }} as value_number
    from profiles
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- the rules are evaluated once per distinct attribute value (a few thousand, where profiles are millions), then
-- joined back to the people; a value that is null or blank matches no rule
distinct_values as (
    select distinct attribute, value_text, value_number
    from attribute_values
    where value_text is not null
),

matches as (
    select distinct_values.attribute, distinct_values.value_text, distinct_values.value_number, rules.rule_id, rules.points
    from distinct_values
    inner join rules on rules.attribute = distinct_values.attribute
    where case rules.operator
        when 'regex' then coalesce({{ outflow_regex_contains('lower(distinct_values.value_text)', 'rules.value') }}, false)
        when 'equals' then lower(distinct_values.value_text) = lower(trim(rules.value))
        when 'in' then coalesce(
            position('|' in distinct_values.value_text) = 0
            and position('|' || lower(distinct_values.value_text) || '|' in '|' || lower(rules.value) || '|') > 0,
            false
        )
        when 'between' then distinct_values.value_number is not null
            and (rules.min_value is null or distinct_values.value_number >= rules.min_value)
            and (rules.max_value is null or distinct_values.value_number <= rules.max_value)
        when 'not_null' then distinct_values.value_text is not null
        else false
    end
),

-- per attribute value the best rule: the most points, then the smallest rule_id, so ties resolve the same every run
best_per_value as (
    select attribute, value_text, value_number, points, rule_id
    from (
        select
            matches.*,
            row_number() over (
                partition by attribute, value_text, value_number order by points desc nulls last, rule_id
            ) as rule_rank
        from matches
    ) as ranked
    where rule_rank = 1
),

best_per_attribute as (
    select attribute_values.person_id, attribute_values.attribute, best_per_value.points, best_per_value.rule_id
    from attribute_values
    inner join best_per_value
        on best_per_value.attribute = attribute_values.attribute
        and best_per_value.value_text = attribute_values.value_text
        and (
            best_per_value.value_number = attribute_values.value_number
            or (best_per_value.value_number is null and attribute_values.value_number is null)
        )
)

select
    profiles.person_id,
    cast(least(100, greatest(0, coalesce(sum(best_per_attribute.points), 0))) as {{ outflow_double() }}) as fit_score,
    {{ outflow_array_agg(
        'best_per_attribute.rule_id',
        [['best_per_attribute.points', 'desc'], ['best_per_attribute.rule_id', 'asc']],
        where='best_per_attribute.rule_id is not null',
        element_type='varchar'
    ) }} as fit_rules
from profiles
left join best_per_attribute using (person_id)
group by profiles.person_id

{%- if is_incremental() %}
union all
-- a tombstone per person it may hold who is no longer in dim_profiles: the post-hook deletes it
select gone.person_id, cast(null as {{ outflow_double() }}), cast(null as varchar[])
from {{ 'touched_persons' if touched_only else this }} as gone
where not exists (select 1 from {{ ref('dim_profiles') }} as kept where kept.person_id = gone.person_id)
{%- endif %}
