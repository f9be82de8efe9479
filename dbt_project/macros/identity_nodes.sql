{#- The regular expressions int_identity__nodes blocks values with: the seed identity_junk_patterns and the role
    check (var role_account_pattern). A query of (identifier_type, pattern, reason). -#}
{% macro outflow_identity_block_patterns() -%}
    select identifier_type, pattern, reason from {{ ref('identity_junk_patterns') }} where pattern is not null
    union all
    select 'email', {{ outflow_sql_string(var('role_account_pattern')) }}, 'role account (var role_account_pattern)'
{%- endmacro %}

{#- Where int_identity__nodes keeps the patterns its last build checked identifiers with. -#}
{% macro outflow_identity_patterns_relation(nodes) -%}
    {{ return(api.Relation.create(database=nodes.database, schema=nodes.schema, identifier=nodes.identifier ~ '__patterns')) }}
{%- endmacro %}

{#- The rules int_identity__nodes blocks values by, as rows (identifier_type, pattern, reason): the regular
    expressions (outflow_identity_block_patterns), the seed identity_blocklist's values and the shared-value check's
    vars (identity_strong_types, identity_max_strong_links). Its post-hook keeps them beside the table. -#}
{% macro outflow_identity_node_rules() -%}
    {{ outflow_identity_block_patterns() }}
    union all
    select identifier_type, 'value ' || coalesce(identifier_value, 'null'), reason from {{ ref('identity_blocklist') }}
    union all
    select 'strong', {{ outflow_sql_string('types ' ~ (var('identity_strong_types') | join(','))) }},
        {{ outflow_sql_string('more than ' ~ var('identity_max_strong_links')) }}
{%- endmacro %}

{#- The table int_identity__nodes' last build left, when it was built by the rules of this build (so an identifier
    it found usable need not be checked again, and an identifier whose signatures did not change keeps its row);
    else none. Read when the model compiles. -#}
{% macro outflow_identity_prior_nodes(nodes) %}
    {%- if not execute or target.type == 'spark' or should_full_refresh() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set prior = load_relation(nodes) -%}
    {%- set used = load_relation(outflow_identity_patterns_relation(nodes)) -%}
    {%- if prior is none or used is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set now = 'select identifier_type, pattern, reason from (' ~ outflow_identity_node_rules() ~ ') as now' -%}
    {%- set changed = run_query(
        'select (select count(*) from (' ~ now ~ ' except select identifier_type, pattern, reason from ' ~ used
        ~ ') as added) + (select count(*) from (select identifier_type, pattern, reason from ' ~ used
        ~ ' except ' ~ now ~ ') as removed)').columns[0].values()[0] -%}
    {{ return(prior if changed == 0 else none) }}
{% endmacro %}

{#- Whether int_identity__nodes' run recomputes only the identifiers of the signature occurrences rewritten since
    its mark (those stamped after it, and those its log of replaced identifiers holds): an incremental run whose
    last build followed the same rules, when some occurrence is as old as the mark (else the occurrences were
    rebuilt whole, or no mark is stored, and every identifier is recomputed). Read when the model compiles and by
    its pre-hook, which empties the table otherwise. -#}
{% macro outflow_identity_nodes_narrowed(nodes) %}
    {%- if not is_incremental() or outflow_identity_prior_nodes(nodes) is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set old = run_query('select count(*) from ' ~ ref('int_identity__signature_occurrences') ~ ' where written_at <= '
        ~ outflow_watermark('occurrences', 'int_identity__marks')).columns[0].values()[0] -%}
    {{ return(old > 0) }}
{% endmacro %}

{#- A stamp for the rows an identity model's run writes: when the dbt invocation started, or a second after the
    newest stored `column` should the clock have gone back, so a reader's mark (the newest stamp it read) never
    hides a later change. -#}
{% macro outflow_identity_stamp(column) -%}
    {%- if is_incremental() -%}
    greatest({{ outflow_run_stamp() }}, coalesce(
        (select max({{ column }}) from {{ this }}) + interval '1 second', {{ outflow_run_stamp() }}))
    {%- else -%}
    {{ outflow_run_stamp() }}
    {%- endif -%}
{%- endmacro %}

{#- The identity models' change logs, in their schema, created when first needed (each writer's and reader's hook
    creates them, so a model's SQL may read them even in the run that creates them):
    - int_identity__signatures__removed (source, signature_id, written_at): the signatures int_identity__signatures
      removed, until int_identity__signature_occurrences has removed their identifiers;
    - int_identity__signatures__removed_for_persons (the same columns): the same removals, until
      int_identity__signature_persons has removed their persons (it runs after the occurrences emptied theirs);
    - int_identity__signature_occurrences__replaced (signature_id, identifier_key): the identifiers of the
      signatures the occurrences rewrote or removed, as they were, until int_identity__pairs has re-aggregated the
      pairs they held;
    - int_identity__signature_occurrences__replaced_for_nodes (identifier_type, identifier_value): the identifiers of
      the same signatures (of every signature, not only those with several), until int_identity__nodes has
      recomputed them;
    - int_identity__nodes__removed (identifier_key, written_at): the identifiers int_identity__nodes removed (no
      signature holds them any more), until int_identity__identifiers has removed them. -#}
{% macro outflow_identity_log(name) -%}
    {{ this.schema }}.{{ name }}
{%- endmacro %}

{% macro outflow_identity_create_logs() -%}
    {%- for log in ['int_identity__signatures__removed', 'int_identity__signatures__removed_for_persons'] %}
    create table if not exists {{ outflow_identity_log(log) }} (
        source varchar, signature_id varchar, written_at timestamp
    );
    {%- endfor %}
    create table if not exists {{ outflow_identity_log('int_identity__signature_occurrences__replaced') }} (
        signature_id varchar, identifier_key varchar
    );
    create table if not exists {{ outflow_identity_log('int_identity__signature_occurrences__replaced_for_nodes') }} (
        identifier_type varchar, identifier_value varchar
    );
    create table if not exists {{ outflow_identity_log('int_identity__nodes__removed') }} (
        identifier_key varchar, written_at timestamp
    )
{%- endmacro %}

{#- int_identity__signatures' post-hook: the signatures its run wrote with no records (gone or renamed) move to
    the logs (one per reader), then leave the table. -#}
{% macro outflow_log_removed_identity_signatures() -%}
    {{ outflow_identity_create_logs() }};
    {%- for log in ['int_identity__signatures__removed', 'int_identity__signatures__removed_for_persons'] %}
    insert into {{ outflow_identity_log(log) }} (source, signature_id, written_at)
    select source, signature_id, written_at from {{ this }} where records = 0;
    {%- endfor %}
    delete from {{ this }} where records = 0
{%- endmacro %}

{#- int_identity__signature_occurrences' pre-hook. The stored identifiers of the signatures this run rewrites (those
    stamped since its newest stamp, and those logged as removed) go to its logs of replaced identifiers: for
    int_identity__pairs (of the signatures with several identifiers) and for int_identity__nodes (every one). Then,
    when every signature is newer than every row it holds (the signatures were rebuilt whole, so no removal was
    logged), every row is logged for the pairs and it is emptied, so that a signature gone since does not stay (the
    nodes then find every occurrence newer than their mark and recompute every identifier). -#}
{% macro outflow_identity_occurrences_prepare(signatures) -%}
    {{ outflow_identity_create_logs() }}
    {%- if is_incremental() -%}
    {%- set everything = '(select min(written_at) from ' ~ signatures ~ ') > (select max(written_at) from ' ~ this
        ~ ')' -%}
    {%- set rewritten %}
        signature_id in (
            select signature_id from {{ signatures }}
            where written_at > (select max(written_at) from {{ this }})
            union all
            select signature_id from {{ outflow_identity_log('int_identity__signatures__removed') }}
        )
    {%- endset -%};
    insert into {{ outflow_identity_log('int_identity__signature_occurrences__replaced') }} (signature_id, identifier_key)
    select signature_id, {{ outflow_identity_key('identifier_type', 'identifier_value') }}
    from {{ this }}
    where signature_identifiers > 1 and ({{ everything }} or {{ rewritten }});
    insert into {{ outflow_identity_log('int_identity__signature_occurrences__replaced_for_nodes') }}
        (identifier_type, identifier_value)
    select distinct identifier_type, identifier_value
    from {{ this }}
    where not {{ everything }} and {{ rewritten }};
    delete from {{ this }} where {{ everything }}
    {%- endif -%}
{%- endmacro %}

{#- int_identity__nodes' pre-hook: unless the run recomputes only the identifiers of the occurrences rewritten since
    its mark (outflow_identity_nodes_narrowed), empty it, so every identifier is computed again and none gone since
    stays. -#}
{% macro outflow_identity_nodes_prepare() -%}
    {{ outflow_identity_create_logs() }}
    {%- if is_incremental() and not outflow_identity_nodes_narrowed(this) -%};
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- int_identity__nodes' post-hook: the identifiers its run wrote with no occurrences (no signature holds them any
    more) move to the log int_identity__identifiers reads, then leave the table; the log of replaced identifiers
    it read starts again empty. -#}
{% macro outflow_identity_nodes_finish() -%}
    {{ outflow_identity_create_logs() }};
    insert into {{ outflow_identity_log('int_identity__nodes__removed') }} (identifier_key, written_at)
    select identifier_key, written_at from {{ this }} where occurrences = 0;
    delete from {{ this }} where occurrences = 0;
    delete from {{ outflow_identity_log('int_identity__signature_occurrences__replaced_for_nodes') }}
{%- endmacro %}

{#- int_identity__pairs' pre-hook: when every occurrence is newer than its mark (no mark stored, or the occurrences
    were rebuilt whole), empty it, so every pair is computed again and none gone since stays. -#}
{% macro outflow_identity_pairs_prepare() -%}
    {{ outflow_identity_create_logs() }}
    {%- if is_incremental() -%};
    delete from {{ this }}
    where (select min(written_at) from {{ ref('int_identity__signature_occurrences') }})
        > {{ outflow_watermark('occurrences', 'int_identity__marks') }}
    {%- endif -%}
{%- endmacro %}
