{#- Select `columns` (a mapping name -> SQL type) from a table of the sync engine's schema `outflow_sync`
    (sync_row_log, sync_state …), which exists only after the first sync. When the table is missing the result
    is an empty relation with the same columns, so the first build works. A warehouse from before the schema
    was renamed (`outflow`, moved by the engine the next time it opens the warehouse) is read where it is, so a
    build before that sync still sees the erasure ledger.
    The table is deliberately not a dbt source: it is the feedback path (trg_* -> sync -> outflow_sync.* -> next
    build), and declaring it would put a dependency on an asset nobody builds, or a cycle, in the graph. -#}
{% macro outflow_sync_table(identifier, columns) -%}
{%- set rel = none -%}
{%- if execute -%}
  {%- set rel = adapter.get_relation(database=target.database, schema='outflow_sync', identifier=identifier) -%}
  {%- if rel is none -%}
    {%- set rel = adapter.get_relation(database=target.database, schema='outflow', identifier=identifier) -%}
  {%- endif -%}
{%- endif -%}
{%- if rel is not none -%}
select {% for c in columns %}{{ c }}{% if not loop.last %}, {% endif %}{% endfor %} from {{ rel }}
{%- else -%}
select {% for c, t in columns.items() %}cast(null as {{ t }}) as {{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
where false
{%- endif -%}
{%- endmacro %}
