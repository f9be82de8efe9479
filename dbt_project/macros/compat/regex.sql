{#- Regular expressions. Write patterns both engines read the same: RE2 (DuckDB) and PostgreSQL's ARE agree on
    literals, classes [...], groups, alternation, quantifiers and anchors, but not on escapes: `\b` is a word
    boundary in RE2 and a backspace in PostgreSQL. Spell a word boundary out, e.g.
    `(^|[^a-z0-9_])(vp|director)([^a-z0-9_]|$)`, and whitespace as `[ \t\n\f\r]` rather than `\s` (whose
    meaning for non-ASCII spaces follows the PostgreSQL database's locale). -#}

{#- True when the regex matches the whole string (null when the string is null). -#}
{% macro outflow_regex_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('outflow_regex_full_match')(expr, pattern)) }}
{%- endmacro %}

{% macro default__outflow_regex_full_match(expr, pattern) -%}
    ({{ expr }} ~ ('^(?:' || {{ outflow_sql_string(pattern) }} || ')$'))
{%- endmacro %}

{% macro duckdb__outflow_regex_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, {{ outflow_sql_string(pattern) }})
{%- endmacro %}


{#- True when the regex matches anywhere in the string; `pattern` is a SQL expression (e.g. a column). -#}
{% macro outflow_regex_contains(expr, pattern_expr) -%}
    {{ return(adapter.dispatch('outflow_regex_contains')(expr, pattern_expr)) }}
{%- endmacro %}

{% macro default__outflow_regex_contains(expr, pattern_expr) -%}
    ({{ expr }} ~ {{ pattern_expr }})
{%- endmacro %}

{% macro duckdb__outflow_regex_contains(expr, pattern_expr) -%}
    regexp_matches({{ expr }}, {{ pattern_expr }})
{%- endmacro %}


{#- A Jinja string as a SQL string literal (quotes doubled) that reads back exactly `text`. -#}
{% macro outflow_sql_string(text) -%}
    {{ return(adapter.dispatch('outflow_sql_string')(text)) }}
{%- endmacro %}

{% macro default__outflow_sql_string(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}
