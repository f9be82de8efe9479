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
    DuckDB's arg_min by one string, the rank's digit, the type, ':' and the value: compared byte by byte, it orders
    as the three do (a one-digit rank; no type is a prefix of another), and the aggregate's state is one string,
    not a struct of three, which matters when the aggregate spills (docs/identity.md, "The signature persons and
    the identity step at 10M identifiers"); Spark's min_by by a struct compared field by field; PostgreSQL, which
    has neither, takes the first of the persons ordered so. -#}
{% macro outflow_identity_strongest_person(person, rank, type, value) -%}
    {{ return(adapter.dispatch('outflow_identity_strongest_person')(person, rank, type, value)) }}
{%- endmacro %}

{% macro default__outflow_identity_strongest_person(person, rank, type, value) -%}
    arg_min({{ person }}, cast({{ rank }} as varchar) || {{ type }} || ':' || {{ value }})
{%- endmacro %}

{% macro spark__outflow_identity_strongest_person(person, rank, type, value) -%}
    min_by({{ person }}, struct({{ rank }} as r, {{ type }} as t, {{ value }} as v))
{%- endmacro %}

{% macro postgres__outflow_identity_strongest_person(person, rank, type, value) -%}
    (array_agg({{ person }} order by {{ rank }}, {{ type }}, {{ value }}))[1]
{%- endmacro %}

{#- The identifiers a row of int_identity__signatures holds side by side, as (identifier type, column, condition):
    the row holds that identifier when the condition holds (none: when the column is not null). A consent signature
    holds one identifier of any type, in its own identifier_type and identifier_value columns, so it is not listed.
    int_identity__signature_occurrences unpivots these columns, and int_identity__pairs from scratch takes each two of
    them: one list, so both read the same identifiers. -#}
{% macro outflow_identity_signature_identifiers() -%}
    {{ return([
        ('crm_id', 'record_key', "source = 'crm'"),
        ('email', 'email_canonical', none),
        ('phone', 'phone', none),
        ('cookie', 'cookie_id', none),
        ('user_id', 'user_id', none),
    ]) }}
{%- endmacro %}

{#- When a signature's row holds the identifier (type, column, condition) of outflow_identity_signature_identifiers -#}
{% macro outflow_identity_signature_holds(column, condition) -%}
    {{ condition if condition else column ~ ' is not null' }}
{%- endmacro %}

{#- An identifier's key, the graph's node: its type, ':' and its value (SQL expressions). -#}
{% macro outflow_identity_key(identifier_type, identifier_value) -%}
    {{ identifier_type }} || ':' || {{ identifier_value }}
{%- endmacro %}
