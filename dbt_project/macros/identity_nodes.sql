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

{#- Where int_identity__signatures logs the signatures its runs removed (source, signature_id, written_at), until
    int_identity__signature_occurrences has removed their identifiers. -#}
{% macro outflow_identity_removed_relation(signatures) -%}
    {{ return(api.Relation.create(database=signatures.database, schema=signatures.schema,
        identifier=signatures.identifier ~ '__removed')) }}
{%- endmacro %}

{#- int_identity__signatures' post-hook: the signatures its run wrote with no records (gone or renamed) move to
    the log, then leave the table. -#}
{% macro outflow_log_removed_identity_signatures() -%}
    {%- set log = outflow_identity_removed_relation(this) -%}
    create table if not exists {{ log }} as select source, signature_id, written_at from {{ this }} where 1 = 0;
    insert into {{ log }} (source, signature_id, written_at)
    select source, signature_id, written_at from {{ this }} where records = 0;
    delete from {{ this }} where records = 0
{%- endmacro %}

{#- int_identity__signature_occurrences' pre-hook: when every signature is newer than every row it holds (the
    signatures were rebuilt whole), empty it, so that a signature gone since does not stay. -#}
{% macro outflow_identity_occurrences_reset(signatures) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where (select min(written_at) from {{ signatures }}) > (select max(written_at) from {{ this }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- int_identity__signature_occurrences' post-hook: it has removed every signature logged, so the log is emptied. -#}
{% macro outflow_identity_prune_removed(signatures) -%}
    {%- if load_relation(outflow_identity_removed_relation(signatures)) is not none -%}
    delete from {{ outflow_identity_removed_relation(signatures) }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
