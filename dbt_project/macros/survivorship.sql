{#- Pick one winner per person and field from long-format candidates
    (person_id, field, value, source, observed_at), following var('survivorship'):
    the first source listed wins; within a source, the most recent (or earliest) observation. -#}
{% macro survivorship_winners(candidates) -%}
{%- set rules = var('survivorship') -%}
select person_id, field, value
from (
  select
    c.*,
    row_number() over (
      partition by person_id, field
      order by
        case
        {%- for field, rule in rules.items() %}
          {%- for source in rule.sources %}
          when field = '{{ field }}' and source = '{{ source }}' then {{ loop.index }}
          {%- endfor %}
        {%- endfor %}
          else 999
        end,
        case
        {%- for field, rule in rules.items() if rule.prefer == 'earliest' %}
          when field = '{{ field }}' then {{ outflow_epoch('observed_at') }}
        {%- endfor %}
          else -{{ outflow_epoch('observed_at') }}
        end nulls last,
        value
    ) as rank_in_field
  from {{ candidates }} as c
  where value is not null
    and field in ({% for field in rules %}'{{ field }}'{% if not loop.last %}, {% endif %}{% endfor %})
    and (
      {%- for field, rule in rules.items() %}
      (field = '{{ field }}' and source in ({% for s in rule.sources %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})){% if not loop.last %} or{% endif %}
      {%- endfor %}
    )
) as ranked
where rank_in_field = 1
{%- endmacro %}

{#- Pivot the winners into one column per field, cast to the given types. -#}
{% macro survivorship_pivot(winners, types) -%}
select
  person_id
  {%- for field in var('survivorship') %},
  cast(max(case when field = '{{ field }}' then value end) as {{ types.get(field, 'varchar') }}) as {{ field }}
  {%- endfor %}
from {{ winners }}
group by person_id
{%- endmacro %}
