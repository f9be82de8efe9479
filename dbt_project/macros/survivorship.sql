{#- Pick one winner per person and field from long-format candidates
    (person_id, field, value, source, observed_at), following var('survivorship'):
    the first source listed wins; within a source, the most recent (or earliest) observation; then the least value.
    On DuckDB one aggregate per (person, field): the value of the least (source rank, no observation time, its
    time key, value), arg_min of a struct compared field by field, which is the row the window of the other
    engines ranks first (the key's nulls last, as its order has them; the value in the key breaks every tie), and
    costs a hash aggregate instead of a sort of every candidate (docs/performance.md, "The golden record from
    scratch and by the day"). Elsewhere a row_number() window. -#}
{% macro survivorship_winners(candidates) -%}
    {{ return(adapter.dispatch('survivorship_winners')(candidates)) }}
{%- endmacro %}

{#- the source's rank of a candidate's field (999: not a source of the field) -#}
{% macro survivorship_source_rank() -%}
        case
        {%- for field, rule in var('survivorship').items() %}
          {%- for source in rule.sources %}
          when field = '{{ field }}' and source = '{{ source }}' then {{ loop.index }}
          {%- endfor %}
        {%- endfor %}
          else 999
        end
{%- endmacro %}

{#- the order of a candidate's observation within its source: its time, ascending for a field preferring the
    earliest, descending otherwise (null without an observation time) -#}
{% macro survivorship_time_key() -%}
        case
        {%- for field, rule in var('survivorship').items() if rule.prefer == 'earliest' %}
          when field = '{{ field }}' then {{ outflow_epoch('observed_at') }}
        {%- endfor %}
          else -{{ outflow_epoch('observed_at') }}
        end
{%- endmacro %}

{#- the candidates survivorship reads: a value, of a field and one of its sources -#}
{% macro survivorship_candidates_where() -%}
  where value is not null
    and field in ({% for field in var('survivorship') %}'{{ field }}'{% if not loop.last %}, {% endif %}{% endfor %})
    and (
      {%- for field, rule in var('survivorship').items() %}
      (field = '{{ field }}' and source in ({% for s in rule.sources %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})){% if not loop.last %} or{% endif %}
      {%- endfor %}
    )
{%- endmacro %}

{% macro default__survivorship_winners(candidates) -%}
select person_id, field, value
from (
  select
    c.*,
    row_number() over (
      partition by person_id, field
      order by
        {{ survivorship_source_rank() }},
        {{ survivorship_time_key() }} nulls last,
        value
    ) as rank_in_field
  from {{ candidates }} as c
  {{ survivorship_candidates_where() }}
) as ranked
where rank_in_field = 1
{%- endmacro %}

{% macro duckdb__survivorship_winners(candidates) -%}
select person_id, field, arg_min(value, struct_pack(
    source_rank := {{ survivorship_source_rank() }},
    no_time := observed_at is null,
    time_key := coalesce({{ survivorship_time_key() }}, 0),
    value := value
  )) as value
from {{ candidates }} as c
{{ survivorship_candidates_where() }}
group by person_id, field
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
