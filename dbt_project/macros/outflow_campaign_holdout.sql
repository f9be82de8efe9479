{#- The control arm of a trigger or a journey: a deterministic share of the people it would message, chosen by
    hashing '<kind>:<name>:<person_id>' into [0, 10000) like the audience holdouts (raising a share only adds
    people), never sent and kept for measurement (fct_campaign_conversions).
    The shares, in percent, come from a var mapping names to percents: `trigger_holdout_pct` (trigger_name) or
    `journey_holdout_pct` (journey); the key `default` applies to every other name. Unset: no holdout.
    Transactional messages are never held out (service messages always go). -#}
{% macro outflow_holdout_pct(var_name, name_expr) -%}
{%- set shares = var(var_name, {}) or {} -%}
{%- set named = [] -%}
{%- for name, pct in shares.items() if name != 'default' -%}{%- do named.append((name, pct)) -%}{%- endfor -%}
{%- set fallback = (shares.get('default', 0) | float) -%}
{%- if named -%}
cast(case {{ name_expr }}
{%- for name, pct in named %} when '{{ name | replace("'", "''") }}' then {{ pct | float }}{% endfor %}
 else {{ fallback }} end as {{ outflow_double() }})
{%- else -%}
cast({{ fallback }} as {{ outflow_double() }})
{%- endif -%}
{%- endmacro %}

{% macro outflow_holdout_bucket(kind, name_expr, person_expr) -%}
{{ outflow_hash_bucket("'" ~ kind ~ ":' || " ~ name_expr ~ " || ':' || " ~ person_expr) }}
{%- endmacro %}

{% macro outflow_held_out(kind, var_name, name_expr, person_expr, purpose_expr) -%}
(coalesce({{ purpose_expr }}, '') <> 'transactional'
    and {{ outflow_holdout_bucket(kind, name_expr, person_expr) }} < {{ outflow_holdout_pct(var_name, name_expr) }} * 100)
{%- endmacro %}
