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

{#- The table int_identity__nodes' last build left, when its patterns were checked with the patterns of this build
    (so an identifier it found usable need not be checked again); else none. Read when the model compiles. -#}
{% macro outflow_identity_prior_nodes(nodes) %}
    {%- if not execute or target.type == 'spark' or should_full_refresh() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set prior = load_relation(nodes) -%}
    {%- set used = load_relation(outflow_identity_patterns_relation(nodes)) -%}
    {%- if prior is none or used is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set now = 'select identifier_type, pattern, reason from (' ~ outflow_identity_block_patterns() ~ ') as now' -%}
    {%- set changed = run_query(
        'select (select count(*) from (' ~ now ~ ' except select identifier_type, pattern, reason from ' ~ used
        ~ ') as added) + (select count(*) from (select identifier_type, pattern, reason from ' ~ used
        ~ ' except ' ~ now ~ ') as removed)').columns[0].values()[0] -%}
    {{ return(prior if changed == 0 else none) }}
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
      pairs they held. -#}
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
    stamped since its newest stamp, and those logged as removed) go to its log of replaced identifiers, for
    int_identity__pairs. Then, when every signature is newer than every row it holds (the signatures were rebuilt
    whole, so no removal was logged), every row is logged and it is emptied, so that a signature gone since does not
    stay. -#}
{% macro outflow_identity_occurrences_prepare(signatures) -%}
    {{ outflow_identity_create_logs() }}
    {%- if is_incremental() -%}
    {%- set everything = '(select min(written_at) from ' ~ signatures ~ ') > (select max(written_at) from ' ~ this
        ~ ')' -%};
    insert into {{ outflow_identity_log('int_identity__signature_occurrences__replaced') }} (signature_id, identifier_key)
    select signature_id, identifier_type || ':' || identifier_value
    from {{ this }}
    where signature_identifiers > 1 and (
        {{ everything }}
        or signature_id in (
            select signature_id from {{ signatures }}
            where written_at > (select max(written_at) from {{ this }})
            union all
            select signature_id from {{ outflow_identity_log('int_identity__signatures__removed') }}
        )
    );
    delete from {{ this }} where {{ everything }}
    {%- endif -%}
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
