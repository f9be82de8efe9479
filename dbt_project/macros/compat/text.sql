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


{#- The values of `expr` joined with `sep`, in the order of `expr` (optionally distinct ones). -#}
{% macro outflow_string_agg(expr, sep, distinct=false) -%}
    {{ return(adapter.dispatch('outflow_string_agg')(expr, sep, distinct)) }}
{%- endmacro %}

{% macro default__outflow_string_agg(expr, sep, distinct) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expr }}, {{ sep }} order by {{ expr }})
{%- endmacro %}

{% macro spark__outflow_string_agg(expr, sep, distinct) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expr }}, {{ sep }}) within group (order by {{ expr }})
{%- endmacro %}


{#- An array of the `element_type` values of `expr` over the rows where `where` holds (never null: empty when there
    are none), ordered by `order_by`, a list of [expression, 'asc' | 'desc'] with nulls last. On Spark (which has
    no ordered array_agg) a 'desc' key must be a number. -#}
{% macro outflow_array_agg(expr, order_by, where, element_type) -%}
    {{ return(adapter.dispatch('outflow_array_agg')(expr, order_by, where, element_type)) }}
{%- endmacro %}

{% macro default__outflow_array_agg(expr, order_by, where, element_type) -%}
    coalesce(
        array_agg({{ expr }} order by {% for key, direction in order_by %}{{ key }} {{ direction }} nulls last{% if not loop.last %}, {% endif %}{% endfor %})
            filter (where {{ where }}),
        cast(array[] as {{ element_type }}[])
    )
{%- endmacro %}

{% macro spark__outflow_array_agg(expr, order_by, where, element_type) -%}
    transform(
        array_sort(collect_list(named_struct(
            {%- for key, direction in order_by %}
            'n{{ loop.index }}', ({{ key }}) is null, 'k{{ loop.index }}', {{ '-' if direction == 'desc' }}({{ key }}),
            {%- endfor %}
            'v', {{ expr }}
        )) filter (where {{ where }})),
        s -> cast(s.v as {{ element_type }})
    )
{%- endmacro %}
