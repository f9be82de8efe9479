{#- Incremental "stays" history: one row per stay of a key (e.g. person + segment) in a current set, with
    entered_at (when the key appeared) and exited_at (when it disappeared; null while present).
    `current` is a select or relation of the current set with the `keys` columns; `id_column` names the
    unique key (md5 of the keys and entered_at). On an incremental run one full outer join between the open
    stays and the current set finds both kinds of change, and only those rows are written, so the written
    volume grows with the changes, not with the size of the set. Use with materialized='incremental',
    unique_key=id_column, incremental_strategy='delete+insert'. -#}
{% macro outflow_stay_history(current, keys, id_column) -%}
with current_set as (
    select {{ keys | join(', ') }} from {{ current }}
),

{% if is_incremental() %}
open_stays as (
    select {{ keys | join(', ') }}, entered_at from {{ this }} where exited_at is null
),

changes as (
    select
        {%- for k in keys %}
        coalesce(o.{{ k }}, c.{{ k }}) as {{ k }},
        {%- endfor %}
        coalesce(o.entered_at, cast({{ outflow_now() }} as timestamp)) as entered_at,
        case when c.{{ keys[0] }} is null then cast({{ outflow_now() }} as timestamp) end as exited_at
    from open_stays as o
    full outer join current_set as c
        on {% for k in keys %}c.{{ k }} = o.{{ k }}{% if not loop.last %} and {% endif %}{% endfor %}
    where o.{{ keys[0] }} is null or c.{{ keys[0] }} is null
)
{% else %}
changes as (
    select {{ keys | join(', ') }}, cast({{ outflow_now() }} as timestamp) as entered_at,
        cast(null as timestamp) as exited_at
    from current_set
)
{% endif %}

select
    md5({% for k in keys %}{{ k }} || '|' || {% endfor %}cast(entered_at as varchar)) as {{ id_column }},
    {{ keys | join(', ') }},
    entered_at,
    exited_at
from changes
{%- endmacro %}
