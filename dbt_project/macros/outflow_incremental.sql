{#- The lower bound of an incremental run's load key: the newest `column` already in {{ this }} (or `relation`),
    less the lookback (var incremental_lookback_days), so rows that reach the warehouse up to that much out of order
    are still picked up. On an empty table, every row. Portable: plain SQL on DuckDB and PostgreSQL. -#}
{% macro outflow_incremental_since(column, relation=none) -%}
    (
        select coalesce(max({{ column }}), cast('1900-01-01' as timestamp))
            - interval '{{ var("incremental_lookback_days") | int }} days'
        from {{ relation if relation is not none else this }}
    )
{%- endmacro %}

{#- `outflow build --full-refresh`: drop every model tagged `derived` (incremental, yet computed from the raw data
    alone), so the build that follows rebuilds it from scratch. The history tables (trigger, journey and audience
    exposure, holdouts, segment membership) are not tagged: they record what happened and cannot be recomputed.
    `names`: only these derived models (`outflow build --full-refresh --select ...`: those the selection rebuilds). -#}
{% macro outflow_drop_derived(names=none) %}
    {% for node in graph.nodes.values() if node.resource_type == 'model' and 'derived' in node.tags
        and (names is none or node.name in names) %}
        {% set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) %}
        {% if relation %}
            {% do log('full refresh: dropping ' ~ relation, info=true) %}
            {% do adapter.drop_relation(relation) %}
        {% endif %}
    {% endfor %}
    {#- run-operation does not commit: without this, the drops are rolled back when its connection closes -#}
    {% do run_query('commit') %}
{% endmacro %}

{#- on-run-start (dbt_project.yml), in every dbt command: a derived model's stored table that lacks the column its
    config names in meta `outflow_layout_column`, or holds one of the columns named in meta `outflow_layout_dropped`
    (columns the model no longer writes), was built before the model's present layout (say a table from before the
    model became incremental); it is dropped, so this run builds it whole instead of failing on the changed
    columns. Only derived models (computed from the raw data alone), so nothing is lost. -#}
{% macro outflow_drop_outdated_derived() %}
    {% if execute and target.type != 'spark' %}
        {% set dropped = [] %}
        {% for node in graph.nodes.values() if node.resource_type == 'model' and 'derived' in node.tags
            and (node.config.meta.get('outflow_layout_column') or node.config.meta.get('outflow_layout_dropped')) %}
            {% set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) %}
            {% if relation %}
                {% set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list %}
                {% set present = node.config.meta.get('outflow_layout_column') %}
                {% set stale = node.config.meta.get('outflow_layout_dropped', []) | select('in', names) | list %}
                {% if (present and present not in names) or stale %}
                    {% do log(node.name ~ ' was built before its present layout: rebuilding it whole', info=true) %}
                    {% do adapter.drop_relation(relation) %}
                    {% do dropped.append(relation) %}
                {% endif %}
            {% endif %}
        {% endfor %}
        {% if dropped %}{% do run_query('commit') %}{% endif %}
    {% endif %}
{% endmacro %}
