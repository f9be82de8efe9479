{#- Lower-case hex SHA-256 of a text expression: the hash the erasure ledger keeps (activations.privacy). -#}
{% macro outflow_sha256(expr) -%}
    {{ return(adapter.dispatch('outflow_sha256')(expr)) }}
{%- endmacro %}

{% macro default__outflow_sha256(expr) -%}
sha256({{ expr }})
{%- endmacro %}

{% macro postgres__outflow_sha256(expr) -%}
encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex')
{%- endmacro %}
