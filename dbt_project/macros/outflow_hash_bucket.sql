{#- A stable bucket in [0, 10000) from a string: the first 32 bits of its md5.
    Holdouts use `bucket < pct * 100`, so raising a percentage only adds people and never reshuffles. -#}
{% macro outflow_hash_bucket(expr) -%}
    {{ return(adapter.dispatch('outflow_hash_bucket')(expr)) }}
{%- endmacro %}

{% macro default__outflow_hash_bucket(expr) -%}
    (cast(cast('x' || substr(md5({{ expr }}), 1, 8) as bit(32)) as bigint) % 10000)
{%- endmacro %}

{% macro duckdb__outflow_hash_bucket(expr) -%}
    (cast(('0x' || substr(md5({{ expr }}), 1, 8)) as ubigint) % 10000)
{%- endmacro %}

{% macro snowflake__outflow_hash_bucket(expr) -%}
    (to_number(substr(md5({{ expr }}), 1, 8), 'XXXXXXXX') % 10000)
{%- endmacro %}

{% macro bigquery__outflow_hash_bucket(expr) -%}
    (mod(cast(concat('0x', substr(to_hex(md5({{ expr }})), 1, 8)) as int64), 10000))
{%- endmacro %}
