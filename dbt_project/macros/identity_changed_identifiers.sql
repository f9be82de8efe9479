{#- int_identity__signature_persons' post-hook: the identifiers the identity step listed as changed
    (outflow_identity.changed_identifiers, outflow/person_map.py) have been read by both readers; the list starts
    again empty. int_identity__identifiers reads it too, before (it is an input of the signature persons): the
    list is emptied only when that model read it in this dbt invocation (its mark `listed` is this invocation's
    stamp), else it is kept for its next run (the signature persons then rank those signatures again, to the same
    rows). -#}
{% macro outflow_identity_clear_changed_identifiers() -%}
    {%- set listed = load_relation(source('outflow_identity', 'changed_identifiers')) -%}
    {%- set marks = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_identity__marks') -%}
    {%- if listed is not none and marks is not none -%}
    delete from {{ listed }}
    where (
        select max(value) from {{ outflow_watermarks_relation('int_identity__marks') }}
        where model = 'int_identity__identifiers' and name = 'listed'
    ) = {{ outflow_run_stamp() }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Whether int_identity__identifiers' run recomputes only the identifiers whose node was written or removed since
    its mark and those the identity step listed: an incremental run with a mark older than some node, and a list
    without its row for every identifier. Read when the model compiles and by its pre-hook, which empties the table
    otherwise. -#}
{% macro outflow_identity_identifiers_narrowed() %}
    {%- if not execute or not is_incremental() or target.type == 'spark' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set listed = load_relation(source('outflow_identity', 'changed_identifiers')) -%}
    {%- if listed is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set state = run_query('select (select count(*) from ' ~ listed ~ ' where identifier_type is null), '
        ~ '(select count(*) from ' ~ ref('int_identity__nodes') ~ ' where written_at <= '
        ~ outflow_watermark('nodes', 'int_identity__marks') ~ ')').rows[0] -%}
    {{ return(state[0] == 0 and state[1] > 0) }}
{% endmacro %}

{#- int_identity__identifiers' pre-hook: unless its run recomputes only what changed, empty it, so every identifier
    is computed again and none gone since stays. -#}
{% macro outflow_identity_identifiers_prepare() -%}
    {%- if is_incremental() and not outflow_identity_identifiers_narrowed() -%}
    delete from {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- int_identity__identifiers' post-hook: its marks, the newest node stamp it read (`nodes`) and this invocation's
    stamp (`listed`: it read the identity step's list in this invocation). -#}
{% macro outflow_identity_identifiers_marks() -%}
    {{ outflow_watermark_set({'nodes': ['int_identity__nodes', 'written_at']}, 'int_identity__marks') }};
    insert into {{ outflow_watermarks_relation('int_identity__marks') }} (model, name, value)
    values ('{{ this.identifier }}', 'listed', {{ outflow_run_stamp() }})
{%- endmacro %}

{#- The identifiers a narrowed run of int_identity__identifiers recomputes (a query of identifier_key): the nodes
    written or removed since its mark, and the identifiers the identity step listed. -#}
{% macro outflow_identity_identifiers_changed() -%}
    {%- set listed = load_relation(source('outflow_identity', 'changed_identifiers')) -%}
    select identifier_key from {{ ref('int_identity__nodes') }}
    where written_at > {{ outflow_watermark('nodes', 'int_identity__marks') }}
    union
    select identifier_key from {{ outflow_identity_log('int_identity__nodes__removed') }}
    union
    select identifier_type || ':' || identifier_value from {{ listed }}
{%- endmacro %}

{#- int_identity__identifiers' log of the persons its identifiers left, int_identity__identifiers_removed
    (identifier_key, person_id, removed_at), read by dim_profiles (profiles_identifiers_narrowed). -#}
{% macro outflow_identity_identifiers_removed() -%}
    {{ this.schema }}.int_identity__identifiers_removed
{%- endmacro %}

{% macro outflow_identity_identifiers_create_removed() -%}
    create table if not exists {{ outflow_identity_identifiers_removed() }} (
        identifier_key varchar(400), person_id varchar(200), removed_at timestamp
    )
{%- endmacro %}

{#- int_identity__identifiers' incremental strategy: outflow_delete_insert (dbt's delete+insert keeping the written
    keys, macros/outflow_written_keys.sql), after logging the stored person of every row the run replaces or deletes
    in int_identity__identifiers_removed, with the run's stamp (its rows' written_at; the rows of identifiers that
    are no node any more carry it too). A run that recomputes everything emptied the table first: it logs nothing.
    Found by the keys of the run's own rows, once they are written to dbt's temporary relation (a pre-hook reading
    them from the model's sources cost three times as much at 300k people, docs/performance.md). A pair (identifier,
    person) already logged by an earlier run that the readers have not all read is replaced by the new one: its
    readers ask only whether a row is newer than their mark, which the newer stamp is whenever the older is, so the
    log holds at most one row a pair however many runs its readers miss (dim_profiles, which prunes it, not
    selected; skipped after a failed test). Only when the log holds rows (it is empty after a build that ran
    dim_profiles). -#}
{% macro get_incremental_outflow_identifiers_replace_sql(arg_dict) -%}
    {%- set written = arg_dict['temp_relation'] -%}
    {%- set logged = run_query('select count(*) from (select 1 from ' ~ outflow_identity_identifiers_removed()
        ~ ' limit 1) as logged').rows[0][0] if execute else 0 -%}
    {%- if logged | int > 0 %}
    delete from {{ outflow_identity_identifiers_removed() }} where (identifier_key, person_id) in (
        select stored.identifier_key, stored.person_id from {{ arg_dict['target_relation'] }} as stored
        where stored.identifier_key in (select identifier_key from {{ written }}));
    {%- endif %}
    insert into {{ outflow_identity_identifiers_removed() }} (identifier_key, person_id, removed_at)
    select stored.identifier_key, stored.person_id, (select max(written_at) from {{ written }})
    from {{ arg_dict['target_relation'] }} as stored
    where stored.person_id is not null
        and stored.identifier_key in (select identifier_key from {{ written }});
    {{ get_incremental_outflow_delete_insert_sql(arg_dict) }}
{%- endmacro %}
