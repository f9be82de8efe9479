{#- What an incremental model has already read, so that its next run reads only what changed since
    (docs/incremental.md, "Persons that changed"). One small table, main.outflow_watermarks (model, name, value): a
    model's post-hook records, per name, the newest value of an input's load key or change stamp it has read
    (outflow_watermark_set), and its next incremental run reads it back (outflow_watermark). The values are read
    from the inputs when the model ran, not taken from the clock, and written only after the model succeeded, so a
    run that failed or was skipped leaves the mark where it was and the next run reads everything since then.
    Portable SQL (DuckDB and PostgreSQL). -#}

{#- `table`: the marks' table; outflow_watermarks, or one of a model family's own (the golden-record models keep
    theirs in int_profiles__marks), so that models built side by side never create the same table at once. -#}
{% macro outflow_watermarks_relation(table='outflow_watermarks') -%}
    {{ this.schema }}.{{ table }}
{%- endmacro %}

{#- The stored mark of this model's `name`, as a scalar SQL expression; before any mark was stored (a warehouse
    built before marks existed, or a model whose post-hook never ran), 1900-01-01, so the run reads everything. -#}
{% macro outflow_watermark(name, table='outflow_watermarks') -%}
    {%- if adapter.get_relation(database=this.database, schema=this.schema, identifier=table) is none -%}
    cast('1900-01-01' as timestamp)
    {%- else -%}
    coalesce(
        (select max(value) from {{ outflow_watermarks_relation(table) }}
         where model = '{{ this.identifier }}' and name = '{{ name }}'),
        cast('1900-01-01' as timestamp)
    )
    {%- endif -%}
{%- endmacro %}

{#- A post-hook: store this model's marks, {name: [model, column]}: the newest value of each column as the model read
    it, replacing the previous marks. -#}
{% macro outflow_watermark_set(marks, table='outflow_watermarks') -%}
    create table if not exists {{ outflow_watermarks_relation(table) }} (
        model varchar(200), name varchar(200), value timestamp
    );
    delete from {{ outflow_watermarks_relation(table) }} where model = '{{ this.identifier }}';
    insert into {{ outflow_watermarks_relation(table) }} (model, name, value)
    {%- for name, value in marks.items() %}
    select '{{ this.identifier }}', '{{ name }}', cast(max({{ value[1] }}) as timestamp) from {{ ref(value[0]) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The stamp a run gives the rows it changes: when this dbt invocation started (run_started_at, UTC), the same
    for every model of one invocation and later for every later invocation. -#}
{% macro outflow_run_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- int_identity__signature_persons' post-hook: the signatures its incremental run found gone or without a person
    (written with a null person_id) move to int_identity__signature_persons_removed, with their natural columns and
    stamp, so the models that read records by signature can rewrite or drop the records of those signatures. -#}
{% macro outflow_removed_signatures(schema) -%}
    {{ schema }}.int_identity__signature_persons_removed
{%- endmacro %}

{% macro outflow_log_removed_signatures() -%}
    {%- set log = outflow_removed_signatures(this.schema) -%}
    {%- set columns = 'source, signature_id, record_key, cookie_id, user_id, email_canonical, identifier_type, '
        ~ 'identifier_value, person_changed_at' -%}
    create table if not exists {{ log }} as select {{ columns }} from {{ this }} where 1 = 0;
    insert into {{ log }} ({{ columns }}) select {{ columns }} from {{ this }} where person_id is null;
    delete from {{ this }} where person_id is null
{%- endmacro %}

{#- fct_events' post-hook: drop the removed signatures at or before its new mark `name`, and at or before the mark of
    the log's other reader, int_profiles__attribute_candidates (`person_changed_at` in int_profiles__marks, once it
    has one), which may run after it in the same build. -#}
{% macro outflow_prune_removed_signatures(name) -%}
    {%- set log = outflow_removed_signatures(this.schema) -%}
    {%- if adapter.get_relation(database=this.database, schema=this.schema,
        identifier='int_identity__signature_persons_removed') is not none -%}
    delete from {{ log }} where person_changed_at <= (
        select max(value) from {{ outflow_watermarks_relation() }}
        where model = '{{ this.identifier }}' and name = '{{ name }}'
    )
    {%- if adapter.get_relation(database=this.database, schema=this.schema, identifier='int_profiles__marks') %}
    and person_changed_at <= (
        select coalesce(max(value), cast('9999-12-31' as timestamp))
        from {{ outflow_watermarks_relation('int_profiles__marks') }}
        where model = 'int_profiles__attribute_candidates' and name = 'person_changed_at'
    )
    {%- endif %}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
