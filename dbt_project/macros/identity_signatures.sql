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
