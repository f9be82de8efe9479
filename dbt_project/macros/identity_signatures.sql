{#- Null-safe equality of a record's natural columns with its identity signature's (int_identity__signature_persons),
    written so that it hash-joins on every engine (`is not distinct from` does not on PostgreSQL): each column is
    compared coalesced to '' and by its null flag, so a null matches only a null and '' only ''. -#}
{% macro outflow_same_signature(left, right, columns) -%}
{%- for c in columns -%}
coalesce({{ left }}.{{ c }}, '') = coalesce({{ right }}.{{ c }}, '')
        and ({{ left }}.{{ c }} is null) = ({{ right }}.{{ c }} is null)
{%- if not loop.last %}
        and {% endif -%}
{%- endfor -%}
{%- endmacro %}

{#- In an aggregate over a signature's identifiers: the person of the first by (rank, type, value), the strongest
    (int_identity__signature_persons). The three make a total order, as a signature's identifiers are distinct.
    DuckDB's arg_min and Spark's min_by by a struct compared field by field; PostgreSQL, which has neither, takes
    the first of the persons ordered so. -#}
{% macro outflow_identity_strongest_person(person, rank, type, value) -%}
    {{ return(adapter.dispatch('outflow_identity_strongest_person')(person, rank, type, value)) }}
{%- endmacro %}

{% macro default__outflow_identity_strongest_person(person, rank, type, value) -%}
    arg_min({{ person }}, struct_pack(r := {{ rank }}, t := {{ type }}, v := {{ value }}))
{%- endmacro %}

{% macro spark__outflow_identity_strongest_person(person, rank, type, value) -%}
    min_by({{ person }}, struct({{ rank }} as r, {{ type }} as t, {{ value }} as v))
{%- endmacro %}

{% macro postgres__outflow_identity_strongest_person(person, rank, type, value) -%}
    (array_agg({{ person }} order by {{ rank }}, {{ type }}, {{ value }}))[1]
{%- endmacro %}
