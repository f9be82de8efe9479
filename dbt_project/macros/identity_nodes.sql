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
