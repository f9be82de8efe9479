{#- Normalization shared by every staging model. -#}

{% macro normalize_email(col) -%}
nullif(lower(trim({{ col }})), '')
{%- endmacro %}

{#- The form used for matching: lowercased, plus-tag removed (a local part that starts with "+" is kept whole),
    and for gmail the dots removed and googlemail.com folded into gmail.com. Anything that does not look like an
    address is null. The SQL twin of outflow.normalize.canonical_address, for addresses the normalization step
    has already validated (or, as a fallback, has not read yet). -#}
{% macro canonical_email(col) -%}
{%- set address_pattern -%}[^@ \t\n\f\r]+@[^@ \t\n\f\r]+[.][a-z]{2,}{%- endset -%}
{%- set address = 'lower(trim(' ~ col ~ '))' -%}
{%- set local = "split_part(" ~ address ~ ", '@', 1)" -%}
{%- set untagged = "coalesce(nullif(split_part(" ~ local ~ ", '+', 1), ''), " ~ local ~ ")" -%}
case
  when {{ outflow_regex_full_match(address, address_pattern) }} then
    case
      when split_part({{ address }}, '@', 2) in ('gmail.com', 'googlemail.com')
        then replace({{ untagged }}, '.', '') || '@gmail.com'
      else {{ untagged }} || '@' || split_part({{ address }}, '@', 2)
    end
end
{%- endmacro %}

{#- Collapse inner whitespace, trim, and capitalise the first letter of each word (macro in compat/). -#}
{% macro normalize_name(col) -%}
{{ outflow_capitalize_words(col) }}
{%- endmacro %}

{#- "Now" for every model: the as_of var when set, else the current time. A bare date (YYYY-MM-DD) is the end of
    that day (the next midnight), so models that count events strictly before now keep that day's events;
    `outflow build` passes a full timestamp (outflow/asof.py) in OUTFLOW_DBT_AS_OF (outflow/build.py), read only when
    a model runs, so that a new as-of never invalidates dbt's partial parse (dbt re-parses everything when a --vars
    value changes, and the files that read an env var at parse time when it changes). The var, when set (unit
    tests, a caller's --vars), comes first. -#}
{% macro outflow_now() -%}
{%- set as_of = (var('as_of', '') | string) or ((env_var('OUTFLOW_DBT_AS_OF', '') if execute else '') | string) -%}
{%- if as_of | length == 10 -%} cast({{ dbt.dateadd('day', 1, "cast('" ~ as_of ~ "' as timestamp)") }} as timestamp)
{%- elif as_of -%} cast('{{ as_of }}' as timestamp)
{%- else -%} cast(current_timestamp as timestamp) {%- endif -%}
{%- endmacro %}

{#- The identifier of a phone: E.164, with the extension apart as ";ext=" (RFC 3966), so two extensions of one
    switchboard are two identifiers. -#}
{% macro phone_identifier(e164_col, extension_col) -%}
{{ e164_col }} || coalesce(';ext=' || {{ extension_col }}, '')
{%- endmacro %}
