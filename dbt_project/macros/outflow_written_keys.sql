{#- Tests that cost what an incremental run wrote (docs/incremental.md, "Tests on a daily build").

    The incremental strategy `outflow_delete_insert` is dbt's delete+insert that also keeps the unique keys of the
    rows the run wrote in `<model>__written`, the keys written since the model's tests last all passed. Its states:
    - absent: every row is unchecked. A build from scratch (the first, `--full-refresh`, `outflow build
      --full-refresh`) drops it in the model's pre-hook (`outflow_written_keys_reset()`), and an incremental run
      leaves it absent: its tests check every row until they all pass once.
    - present: the rows of the keys it holds are unchecked, every other row was checked by tests that passed. An
      incremental run adds the keys it wrote; the on-run-end hook `outflow_written_keys_checked(results)` empties it
      (creates it empty when absent) once every test that reads it (`outflow_unique_written`,
      `outflow_relationships_written` on the model) passed in the same dbt command, after the model's last write.
      A run whose test failed, or was not run, leaves its keys for the next test.
    The test `outflow_unique_written` then checks every row when there is no such table, and otherwise only the
    rows whose value is one a run wrote since the last passing check, against every row of the model: a stored row
    that no run wrote since then is unchanged, so a duplicate holds at least one row a run wrote. Portable: plain
    SQL on DuckDB and PostgreSQL (on Spark the models are tables rebuilt whole, and the test checks every row). -#}

{% macro outflow_written_keys_relation(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}__written
{%- endmacro %}

{#- A pre-hook: a build from scratch leaves every row unchecked (an incremental run keeps the keys). -#}
{% macro outflow_written_keys_reset() -%}
    {%- if not is_incremental() %}drop table if exists {{ outflow_written_keys_relation(this) }}{% endif -%}
{%- endmacro %}

{% macro get_incremental_outflow_delete_insert_sql(arg_dict) -%}
    {%- set keys = arg_dict['unique_key'] if arg_dict['unique_key'] is sequence
        and arg_dict['unique_key'] is not string else [arg_dict['unique_key']] -%}
    {%- set target = arg_dict['target_relation'] -%}
    {{ get_incremental_delete_insert_sql(arg_dict) }}
    {%- if adapter.get_relation(database=target.database, schema=target.schema,
        identifier=target.identifier ~ '__written') is not none %};
    insert into {{ outflow_written_keys_relation(target) }} ({{ keys | join(', ') }})
    select {{ keys | join(', ') }} from {{ arg_dict['temp_relation'] }}
    except
    select {{ keys | join(', ') }} from {{ outflow_written_keys_relation(target) }}
    {%- endif %}
{%- endmacro %}

{#- The nodes whose every reader passed in this dbt command (`results`): the readers are the tests named in `names`,
    of the model they are attached to (`attached`) or of the other models they depend on. -#}
{% macro outflow_checked_nodes(results, names, attached) %}
    {% set passed = [] %}
    {% for result in results if result.status == 'pass' %}{% do passed.append(result.node.unique_id) %}{% endfor %}
    {% set readers = {} %}
    {% for test in graph.nodes.values() if test.resource_type == 'test' and test.test_metadata
        and test.test_metadata.name in names %}
        {% for parent in test.depends_on.nodes if (parent == test.attached_node) == attached %}
            {% do readers.setdefault(parent, []).append(test.unique_id) %}
        {% endfor %}
    {% endfor %}
    {% set checked = [] %}
    {% for parent, tests in readers.items() if tests | reject('in', passed) | list | length == 0 %}
        {% do checked.append(parent) %}
    {% endfor %}
    {{ return(checked) }}
{% endmacro %}

{#- `column_name` is unique in `model`: every row when its written keys are absent, else the values written since the
    model's tests last all passed. -#}
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
    model that removed no row of `to`, only the rows written since the model's tests last all passed are read
    (`written_key`, a column of its `<model>__written` that picks them out: fct_events' `event_id`, unique): a stored
    row that no run wrote since referred to a row of `to` when the last check passed, and `to` logs every row it
    removes (`<to>__removed`, profiles_removed_log_pre_hook) until this test has passed after the removal
    (profiles_removed_log_checked, on-run-end), so with an empty log it still does. Every row is checked when either log is
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

{#- on-run-end (dbt_project.yml): every model of the strategy whose tests reading `<model>__written` all passed in
    this dbt command gets it empty: each such test runs after the model (it depends on it), which runs at most once
    a command, so it read every key the table holds now, or every row when it was absent. A test that failed, or
    was not selected, leaves the keys (or the absence) for the next. Dropped and created again rather than emptied,
    so that a model whose table was absent gets it too, with its key columns. -#}
{% macro outflow_written_keys_checked(results) %}
    {% if execute and target.type != 'spark' %}
        {% set checked = outflow_checked_nodes(
            results, ['outflow_unique_written', 'outflow_relationships_written'], true) %}
        {% for unique_id in checked if graph.nodes[unique_id].config.incremental_strategy
            in ['outflow_delete_insert', 'outflow_identifiers_replace'] %}
            {% set node = graph.nodes[unique_id] %}
            {% set model = api.Relation.create(schema=node.schema, identifier=node.alias) %}
            {% set keys = node.config.unique_key if node.config.unique_key is sequence
                and node.config.unique_key is not string else [node.config.unique_key] %}
            {#- in a transaction of dbt's own (run_query opens none), committed below -#}
            {% call statement('outflow_written_keys_checked', auto_begin=true) -%}
                drop table if exists {{ outflow_written_keys_relation(model) }};
                create table {{ outflow_written_keys_relation(model) }} as
                select {{ keys | join(', ') }} from {{ node.schema }}.{{ node.alias }} where 1 = 0
            {%- endcall %}
            {% if loop.last %}{% do adapter.commit() %}{% endif %}
        {% endfor %}
    {% endif %}
{% endmacro %}
