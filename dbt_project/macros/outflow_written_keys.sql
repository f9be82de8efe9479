{#- Tests that cost what an incremental run wrote (docs/incremental.md, "Tests on a daily build").

    The incremental strategy `outflow_delete_insert` is dbt's delete+insert that also keeps the unique keys of the
    rows the run wrote in `<model>__written` (replaced by each incremental run). The model's pre-hook
    `outflow_written_keys_reset()` drops that table first, so it exists only after an incremental run that got as far
    as writing: a build from scratch (the first, `--full-refresh`, `outflow build --full-refresh`) or a run that
    failed before writing leaves none. The test `outflow_unique_written` then checks every row when there is no such
    table, and otherwise only the rows whose value is one a run wrote, against every row of the model: a stored row
    that no run wrote since the last check is unchanged, so a duplicate made by this run holds at least one row it
    wrote. Portable: plain SQL on DuckDB and PostgreSQL (on Spark the models are tables rebuilt whole, and the test
    checks every row). -#}

{% macro outflow_written_keys_relation(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}__written
{%- endmacro %}

{#- A pre-hook: forget what an earlier run wrote. -#}
{% macro outflow_written_keys_reset() -%}
    drop table if exists {{ outflow_written_keys_relation(this) }}
{%- endmacro %}

{% macro get_incremental_outflow_delete_insert_sql(arg_dict) -%}
    {%- set keys = arg_dict['unique_key'] if arg_dict['unique_key'] is sequence
        and arg_dict['unique_key'] is not string else [arg_dict['unique_key']] -%}
    {{ get_incremental_delete_insert_sql(arg_dict) }};
    create table {{ outflow_written_keys_relation(arg_dict['target_relation']) }} as
    select distinct {{ keys | join(', ') }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}

{#- `column_name` is unique in `model`: every row when no incremental run wrote it last, else the values written. -#}
{% test outflow_unique_written(model, column_name) %}
{%- set written = none %}
{%- if execute and target.type != 'spark' %}
{%- set found = run_query(
    "select count(*) from information_schema.tables where table_schema = '" ~ model.schema
    ~ "' and table_name = '" ~ model.identifier ~ "__written'"
).rows[0][0] %}
{%- if found | int > 0 %}{% set written = outflow_written_keys_relation(model) %}{% endif %}
{%- endif %}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
{%- if written is not none %}
    and {{ column_name }} in (select {{ column_name }} from {{ written }})
{%- endif %}
group by {{ column_name }}
having count(*) > 1
{% endtest %}

{#- `column_name` refers to a row of `to` (its `field`), as dbt's `relationships`. After an incremental run of the
    model that removed no row of `to`, only the rows the run wrote are read (`written_key`, a column of its
    `<model>__written` that picks them out: fct_events' `event_id`, unique): a stored row that no run wrote referred
    to a row of `to` when the last check passed, and `to` logs every row it removes (`<to>__removed`,
    profiles_removed_log_pre_hook) until this test has passed after the removal (profiles_removed_log_checked,
    on-run-end), so with an empty log it still does. Every row is checked when either log is
    missing (a model built from scratch, Spark, a warehouse from before the logs) or `to` logged a removal or that
    it was rebuilt whole (a null value): the rows of the removed values are found by a scan of `column_name`
    whatever their number, and the whole check costs about that scan (checking the written rows and the removed
    persons' together cost more than it, measured at 300k people, docs/performance.md). -#}
{% test outflow_relationships_written(model, column_name, to, field, written_key) %}
{%- set written = none %}
{%- if execute and target.type != 'spark' %}
{%- set found = run_query(
    "select count(*) from information_schema.tables where (table_schema = '" ~ model.schema ~ "' and table_name = '"
    ~ model.identifier ~ "__written') or (table_schema = '" ~ to.schema ~ "' and table_name = '" ~ to.identifier
    ~ "__removed')"
).rows[0][0] %}
{%- if found | int == 2 and run_query(
    "select count(*) from " ~ to.schema ~ "." ~ to.identifier ~ "__removed").rows[0][0] | int == 0 %}
{%- set written = outflow_written_keys_relation(model) %}
{%- endif %}
{%- endif %}
select child.{{ column_name }} as from_field
from {{ model }} as child
where child.{{ column_name }} is not null
    {%- if written is not none %}
    and child.{{ written_key }} in (select {{ written_key }} from {{ written }})
    {%- endif %}
    and not exists (select 1 from {{ to }} as parent where parent.{{ field }} = child.{{ column_name }})
{% endtest %}

{#- `column_name` is unique in the raw source `model`, read for the values of the rows its staged model `staged`
    restages on its next incremental run (load key `since` within incremental_lookback_days of the newest it stored,
    outflow_incremental_since, or null), against every row: a row older than that window was in the table when an
    earlier build's test passed (a failed test stops the build before the staged model moves on), and the staged
    model never reads it again. Every row is checked when `staged` is not stored (the first build, `outflow build
    --full-refresh`, which drops it first) and on Spark. What it leaves unseen: a row loaded later with a load key
    older than the window, which the incremental staging skips too and a build from scratch checks. The semi-join
    probes the ids with the window's few instead of grouping every row (0.39 against 2.3 CPU s on the web events of
    1M people, docs/incremental.md). -#}
{% test outflow_unique_since(model, column_name, since, staged) %}
{%- set stored = none %}
{%- if execute and target.type != 'spark' %}
{%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
    | selectattr('name', 'equalto', staged) | list %}
{%- if nodes %}
{%- set stored = adapter.get_relation(database=nodes[0].database, schema=nodes[0].schema, identifier=nodes[0].alias) %}
{%- endif %}
{%- endif %}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
{%- if stored is not none %}
    and {{ column_name }} in (
        select {{ column_name }} from {{ model }}
        where {{ since }} >= {{ outflow_incremental_since(since, stored) }} or {{ since }} is null
    )
{%- endif %}
group by {{ column_name }}
having count(*) > 1
{% endtest %}
