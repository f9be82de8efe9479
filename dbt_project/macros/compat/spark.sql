{#- Apache Spark (dbt-spark) implementations of the portable macro set, and what dbt-spark needs to build the
    project on Parquet tables. See docs/warehouses.md, "Spark".
    The models write `varchar` and `double precision`; Spark reads them as `string` and `double` because every
    statement dbt sends through the session method passes outflow.warehouse.spark.portable_types. -#}

{#- Seed rows as literals (the session method would bind a missing value as the text 'None'). -#}
{% macro spark__load_csv_rows(model, agate_table) %}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set statements = [] -%}
  {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
    {%- set sql -%}
      insert into {{ this.render() }} values
      {% for row in chunk -%}
        ({%- for col_name in agate_table.column_names -%}
          {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
          {%- set value = row[loop.index0] -%}
          cast({% if value is none %}null{% else %}'{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'{% endif %} as {{ type }})
          {%- if not loop.last %}, {% endif -%}
        {%- endfor -%}){%- if not loop.last %},{% endif %}
      {% endfor -%}
    {%- endset -%}
    {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
    {%- do statements.append(sql) if loop.first -%}
  {%- endfor -%}
  {{ return(statements[0]) }}
{% endmacro %}


{% macro spark__outflow_double() -%}double{%- endmacro %}

{% macro spark__outflow_epoch(ts) -%}
    (cast(unix_micros(cast({{ ts }} as timestamp_ltz)) as double) / 1000000.0)
{%- endmacro %}

{% macro spark__outflow_try_cast_double(expr) -%}
    try_cast(trim(cast({{ expr }} as string)) as double)
{%- endmacro %}

{% macro spark__outflow_hash_bucket(expr) -%}
    (cast(conv(substr(md5({{ expr }}), 1, 8), 16, 10) as bigint) % 10000)
{%- endmacro %}

{% macro spark__outflow_sha256(expr) -%}
sha2({{ expr }}, 256)
{%- endmacro %}

{#- Spark reads a backslash in a string literal as an escape, and drops it before a letter it does not know:
    '[^@ \f]' is the class [^@ f] (not a form feed), so an email with an "f" would not look like one. Literals
    built from project text double every backslash, so Spark reads the text as DuckDB and PostgreSQL do. -#}
{% macro spark__outflow_sql_string(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("'", "''") }}'
{%- endmacro %}

{#- Spark's regexes are Java's; the project's patterns (see regex.sql) read the same. -#}
{% macro spark__outflow_regex_full_match(expr, pattern) -%}
    ({{ expr }} rlike {{ outflow_sql_string('^(?:' ~ pattern ~ ')$') }})
{%- endmacro %}

{% macro spark__outflow_regex_contains(expr, pattern_expr) -%}
    ({{ expr }} rlike {{ pattern_expr }})
{%- endmacro %}

{% macro spark__outflow_capitalize_words(expr) -%}
    nullif(
        array_join(
            transform(
                split(trim(regexp_replace({{ expr }}, {{ outflow_sql_string('[ \t\n\f\r]+') }}, ' ')), ' '),
                w -> upper(left(w, 1)) || lower(substr(w, 2))
            ),
            ' '
        ),
        ''
    )
{%- endmacro %}

{#- Spark's round(double, n) rounds the shortest decimal text of the double (18.95 -> 19.0), not its exact binary
    value as DuckDB does (18.9). The portable IEEE form of default__outflow_round, written with lambdas because
    Spark does not take the correlated scalar subquery the default uses. -#}
{% macro spark__outflow_round(expr, digits) -%}
    {%- set m = 'cast(' ~ (10 ** (digits | int)) ~ ' as double)' -%}
    {%- set split = 'cast(134217729 as double)' -%}
    aggregate(
        array(cast({{ expr }} as double)), cast(null as double),
        (acc, x) -> aggregate(
            array(x * {{ m }}), cast(null as double),
            (acc2, y) -> aggregate(
                array(x * {{ split }} - (x * {{ split }} - x)), cast(null as double),
                (acc3, xh) -> aggregate(
                    array(sign(y) * floor(abs(y))), cast(null as double),
                    (acc4, t) -> case
                        when abs(y - t) > 0.5 then t + sign(y)
                        when abs(y - t) < 0.5 then t
                        when sign((xh * {{ m }} - y) + (x - xh) * {{ m }}) = -sign(y) then t
                        else t + sign(y)
                    end / {{ m }}
                )
            )
        )
    )
{%- endmacro %}


{#- Incremental models use delete+insert (outflow_stay_history). dbt-spark offers it on no file format; on Parquet
    it is the rows of the table whose key the new batch does not hold, plus the batch, written over the table
    (through a staging table: Spark does not overwrite a table it is reading). On Delta, merge does the same. -#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
  {%- if raw_strategy == 'delete+insert' -%}
    {% do return(raw_strategy) %}
  {%- endif -%}
  {% do return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) %}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
  {%- if strategy != 'delete+insert' -%}
    {{ dbt_spark.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) }}
  {%- else -%}
    {%- set keep = target.incorporate(path={"identifier": target.identifier ~ '__outflow_keep'}) -%}
    {%- set cols = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
    {% do run_query('drop table if exists ' ~ keep) %}
    {% do run_query(
        'create table ' ~ keep ~ ' using parquet as select ' ~ cols ~ ' from ' ~ target
        ~ ' where ' ~ unique_key ~ ' not in (select ' ~ unique_key ~ ' from ' ~ source ~ ')'
        ~ ' union all select ' ~ cols ~ ' from ' ~ source
    ) %}
    insert overwrite table {{ target }} select {{ cols }} from {{ keep }}
  {%- endif -%}
{% endmacro %}


{#- Snapshots: dbt-spark takes them on Delta, Iceberg or Hudi only (it updates rows with MERGE). On Parquet (local
    Spark) the first build creates the snapshot, which is all a from-scratch build needs; a later build on an
    existing Parquet snapshot stops with one line, because Parquet cannot record the changes: set
    file_format: delta for the spark target on a cluster (docs/warehouses.md, "Spark"). -#}
{% materialization snapshot, adapter='spark' %}
  {%- set file_format = config.get('file_format') or 'parquet' -%}
  {%- if file_format in ['delta', 'iceberg', 'hudi'] -%}
    {{ return(dbt_spark.materialization_snapshot_spark()) }}
  {%- endif -%}
  {%- set target_relation = api.Relation.create(schema=model.schema, identifier=model.get('alias', model.get('name')), type='table') -%}
  {%- if load_relation(target_relation) is not none -%}
    {% do exceptions.raise_compiler_error(
        "snapshot " ~ model.name ~ " exists as Parquet, which cannot take its changes: set file_format: delta "
        ~ "(Delta Lake) for the spark target, or drop " ~ target_relation ~ " to start its history again") %}
  {%- endif -%}
  {% if not adapter.check_schema_exists(model.database, model.schema) %}
    {% do create_schema(model.schema) %}
  {% endif %}
  {% set strategy_macro = strategy_dispatch(config.get('strategy')) %}
  {% set strategy = strategy_macro(model, "snapshotted_data", "source_data", model['config'], false) %}
  {% call statement('main') %}
    {{ create_table_as(False, target_relation, build_snapshot_table(strategy, model['compiled_code'])) }}
  {% endcall %}
  {{ adapter.commit() }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#- Date arithmetic on the project's timestamps (TIMESTAMP_NTZ on Spark, see outflow/warehouse/spark.py): Spark's
    own timestampadd/timestampdiff keep the type, where dbt-spark's versions go through time-zone-bound unix
    times. timestampdiff counts whole units between the two, as DuckDB's date_diff does for the project's
    whole-second timestamps and whole days. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}

{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'day' -%}
    datediff(cast({{ second_date }} as date), cast({{ first_date }} as date))
    {%- else -%}
    timestampdiff({{ datepart }}, {{ first_date }}, {{ second_date }})
    {%- endif -%}
{%- endmacro %}
