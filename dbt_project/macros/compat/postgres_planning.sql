{#- Table statistics for the planner, right after a model, seed or snapshot is (re)built.

    PostgreSQL plans every query from the statistics ANALYZE collects; a table dbt has just created has none
    until autovacuum gets to it, which is after the next models have already read it. Without them the planner
    guesses row counts, and a join over a freshly built table can become a nested loop that rescans its inner
    side once per outer row: int_trigger__cart_abandoned took 24 s at 20,000 demo people and 261 of the build's
    511 CPU seconds at 100,000 (docs/warehouses.md, "Where PostgreSQL spends it"). DuckDB plans from
    the data itself, so its hook is empty (dbt runs no empty hook). Views hold no data: nothing to analyze. -#}
{% macro outflow_analyze() -%}
    {{ return(adapter.dispatch('outflow_analyze')()) }}
{%- endmacro %}

{% macro default__outflow_analyze() -%}{%- endmacro %}

{% macro postgres__outflow_analyze() -%}
    {%- if model.resource_type in ('seed', 'snapshot') or config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
