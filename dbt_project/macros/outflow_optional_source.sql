{#- Select `columns` (a mapping name -> SQL type) from a dbt source that may not exist yet, e.g. the sync
    engine's tables in schema `outflow`, which exist only after the first sync. When the table is missing the
    result is an empty relation with the same columns, so the first build works. The source() call registers
    the dependency with dbt (and Dagster) either way. -#}
{% macro outflow_optional_source(source_name, table_name, columns) -%}
{%- set src = source(source_name, table_name) -%}
{%- set rel = adapter.get_relation(database=src.database, schema=src.schema, identifier=src.identifier) if execute else none -%}
{%- if rel is not none -%}
select {% for c in columns %}{{ c }}{% if not loop.last %}, {% endif %}{% endfor %} from {{ src }}
{%- else -%}
select {% for c, t in columns.items() %}cast(null as {{ t }}) as {{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
where false
{%- endif -%}
{%- endmacro %}
