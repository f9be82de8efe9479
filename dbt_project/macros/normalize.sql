{#- Normalization shared by every staging model. -#}

{% macro normalize_email(col) -%}
nullif(lower(trim({{ col }})), '')
{%- endmacro %}

{#- The form used for matching: lowercased, plus-tag removed, and for gmail the dots removed and
    googlemail.com folded into gmail.com. Anything that does not look like an address is null. -#}
{% macro canonical_email(col) -%}
{%- set address_pattern -%}[^@ \t\n\f\r]+@[^@ \t\n\f\r]+[.][a-z]{2,}{%- endset -%}
case
  when {{ outflow_regex_full_match('lower(trim(' ~ col ~ '))', address_pattern) }} then
    case
      when split_part(lower(trim({{ col }})), '@', 2) in ('gmail.com', 'googlemail.com')
        then replace(split_part(split_part(lower(trim({{ col }})), '@', 1), '+', 1), '.', '') || '@gmail.com'
      else split_part(split_part(lower(trim({{ col }})), '@', 1), '+', 1) || '@' || split_part(lower(trim({{ col }})), '@', 2)
    end
end
{%- endmacro %}

{#- Collapse inner whitespace, trim, and capitalise the first letter of each word (macro in compat/). -#}
{% macro normalize_name(col) -%}
{{ outflow_capitalize_words(col) }}
{%- endmacro %}

{#- "Now" for every model: the as_of var when set, else the current time. -#}
{% macro outflow_now() -%}
{%- if var('as_of', '') -%} cast('{{ var("as_of") }}' as timestamp) {%- else -%} cast(current_timestamp as timestamp) {%- endif -%}
{%- endmacro %}

{#- The identifier of a phone: E.164, with the extension apart as ";ext=" (RFC 3966), so two extensions of one
    switchboard are two identifiers. -#}
{% macro phone_identifier(e164_col, extension_col) -%}
{{ e164_col }} || coalesce(';ext=' || {{ extension_col }}, '')
{%- endmacro %}
