{#- The lower bound of an incremental run's load key: the newest `column` already in {{ this }}, less the lookback
    (var incremental_lookback_days), so rows that reach the warehouse up to that much out of order are still
    picked up. On an empty table, every row. Portable: plain SQL on DuckDB and PostgreSQL. -#}
{% macro outflow_incremental_since(column) -%}
    (
        select coalesce(max({{ column }}), cast('1900-01-01' as timestamp))
            - interval '{{ var("incremental_lookback_days") | int }} days'
        from {{ this }}
    )
{%- endmacro %}

{#- `outflow build --full-refresh`: drop every model tagged `derived` (incremental, yet computed from the raw data
    alone), so the build that follows rebuilds it from scratch. The history tables (trigger, journey and audience
    exposure, holdouts, segment membership) are not tagged: they record what happened and cannot be recomputed. -#}
{% macro outflow_drop_derived() %}
    {% for node in graph.nodes.values() if node.resource_type == 'model' and 'derived' in node.tags %}
        {% set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) %}
        {% if relation %}
            {% do log('full refresh: dropping ' ~ relation, info=true) %}
            {% do adapter.drop_relation(relation) %}
        {% endif %}
    {% endfor %}
    {#- run-operation does not commit: without this, the drops are rolled back when its connection closes -#}
    {% do run_query('commit') %}
{% endmacro %}
