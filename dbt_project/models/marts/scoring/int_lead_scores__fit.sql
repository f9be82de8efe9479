{#- Fit score: firmographic/demographic rules from the seed `lead_fit_rules`. Per attribute the best
    matching rule counts; the score is the sum over attributes, capped to 0..100. The attributes read
    from dim_profiles are the var `lead_fit_attributes`. -#}
{%- set attributes = var('lead_fit_attributes', ['job_title', 'employee_count', 'industry', 'country', 'company']) -%}
with profiles as (
    select * from {{ ref('dim_profiles') }}
),

rules as (
    select * from {{ ref('lead_fit_rules') }}
),

attribute_values as (
    {%- for attribute in attributes %}
    select
        person_id,
        '{{ attribute }}' as attribute,
        nullif(trim(cast({{ attribute }} as varchar)), '') as value_text,
        try_cast({{ attribute }} as double) as value_number
    from profiles
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

matches as (
    select attribute_values.person_id, attribute_values.attribute, rules.rule_id, rules.points
    from attribute_values
    inner join rules on rules.attribute = attribute_values.attribute
    where case rules.operator
        when 'regex' then coalesce(regexp_matches(lower(attribute_values.value_text), rules.value), false)
        when 'equals' then lower(attribute_values.value_text) = lower(trim(rules.value))
        when 'in' then coalesce(list_contains(string_split(lower(rules.value), '|'), lower(attribute_values.value_text)), false)
        when 'between' then attribute_values.value_number is not null
            and (rules.min_value is null or attribute_values.value_number >= rules.min_value)
            and (rules.max_value is null or attribute_values.value_number <= rules.max_value)
        when 'not_null' then attribute_values.value_text is not null
        else false
    end
),

best_per_attribute as (
    select person_id, attribute, max(points) as points, arg_max(rule_id, points) as rule_id
    from matches
    group by person_id, attribute
)

select
    profiles.person_id,
    cast(least(100, greatest(0, coalesce(sum(best_per_attribute.points), 0))) as double) as fit_score,
    coalesce(
        list(best_per_attribute.rule_id order by best_per_attribute.points desc)
            filter (where best_per_attribute.rule_id is not null),
        []
    ) as fit_rules
from profiles
left join best_per_attribute using (person_id)
group by profiles.person_id
