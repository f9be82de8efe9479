{#- Name capitalisation: collapse runs of whitespace to one space, trim, and write each space-separated word as
    its first letter upper case and the rest lower case ("  aNN  van  der berg" -> "Ann Van Der Berg").
    Not initcap(): that also capitalises after hyphens and apostrophes, and DuckDB has none.
    Case mapping of non-ASCII letters follows the engine: on PostgreSQL the database's LC_CTYPE (under the C
    locale only ASCII letters change case). -#}
{% macro outflow_capitalize_words(expr) -%}
    {{ return(adapter.dispatch('outflow_capitalize_words')(expr)) }}
{%- endmacro %}

{% macro default__outflow_capitalize_words(expr) -%}
    nullif(
        (
            select string_agg(upper(left(w.word, 1)) || lower(substr(w.word, 2)), ' ' order by w.n)
            from unnest(string_to_array(trim(regexp_replace({{ expr }}, '[ \t\n\f\r]+', ' ', 'g')), ' '))
                with ordinality as w(word, n)
        ),
        ''
    )
{%- endmacro %}

{% macro duckdb__outflow_capitalize_words(expr) -%}
    nullif(
        array_to_string(
            list_transform(
                string_split(trim(regexp_replace({{ expr }}, '[ \t\n\f\r]+', ' ', 'g')), ' '),
                lambda w: upper(left(w, 1)) || lower(substr(w, 2))
            ),
            ' '
        ),
        ''
    )
{%- endmacro %}
