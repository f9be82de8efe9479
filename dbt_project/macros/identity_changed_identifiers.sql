{#- int_identity__signature_persons' post-hook: the identifiers the identity step listed as changed
    (outflow_identity.changed_identifiers, outflow/person_map.py) have been read; the list starts again empty. -#}
{% macro outflow_identity_clear_changed_identifiers() -%}
    {%- set listed = load_relation(source('outflow_identity', 'changed_identifiers')) -%}
    {%- if listed is not none -%}
    delete from {{ listed }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
