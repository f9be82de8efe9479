{#- The project's 8-byte floating point type. `double` is DuckDB's name; PostgreSQL (and the SQL standard) spell
    it `double precision`. Not dbt.type_float(): on DuckDB that is a 4-byte FLOAT. -#}
{% macro outflow_double() -%}
    {{ return(adapter.dispatch('outflow_double')()) }}
{%- endmacro %}

{% macro default__outflow_double() -%}double precision{%- endmacro %}

{% macro duckdb__outflow_double() -%}double{%- endmacro %}

{% macro bigquery__outflow_double() -%}float64{%- endmacro %}


{#- Seconds since 1970-01-01 of a timestamp, as an 8-byte float (fractions of a second kept). -#}
{% macro outflow_epoch(ts) -%}
    {{ return(adapter.dispatch('outflow_epoch')(ts)) }}
{%- endmacro %}

{% macro default__outflow_epoch(ts) -%}
    cast(extract(epoch from {{ ts }}) as {{ outflow_double() }})
{%- endmacro %}

{% macro duckdb__outflow_epoch(ts) -%}
    epoch({{ ts }})
{%- endmacro %}


{#- A number from any value, or null when its text is not a plain decimal number (DuckDB's try_cast). -#}
{% macro outflow_try_cast_double(expr) -%}
    {{ return(adapter.dispatch('outflow_try_cast_double')(expr)) }}
{%- endmacro %}

{% macro default__outflow_try_cast_double(expr) -%}
    case
        when {{ outflow_regex_full_match('trim(cast(' ~ expr ~ ' as varchar))', '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?') }}
            then cast(trim(cast({{ expr }} as varchar)) as {{ outflow_double() }})
    end
{%- endmacro %}

{% macro duckdb__outflow_try_cast_double(expr) -%}
    try_cast({{ expr }} as double)
{%- endmacro %}


{#- The wall-clock time in time zone `tz` (an IANA name) of `ts`, a timestamp without time zone taken as UTC. -#}
{% macro outflow_local_time(ts, tz) -%}
    {{ return(adapter.dispatch('outflow_local_time')(ts, tz)) }}
{%- endmacro %}

{% macro default__outflow_local_time(ts, tz) -%}
    (({{ ts }}) at time zone 'UTC') at time zone {{ tz }}
{%- endmacro %}

{% macro spark__outflow_local_time(ts, tz) -%}
    cast(from_utc_timestamp({{ ts }}, {{ tz }}) as timestamp_ntz)
{%- endmacro %}


{#- The UTC timestamp (without time zone) of `local`, a wall-clock time in time zone `tz`: outflow_local_time's
    inverse. -#}
{% macro outflow_utc_time(local, tz) -%}
    {{ return(adapter.dispatch('outflow_utc_time')(local, tz)) }}
{%- endmacro %}

{% macro default__outflow_utc_time(local, tz) -%}
    (({{ local }}) at time zone {{ tz }}) at time zone 'UTC'
{%- endmacro %}

{% macro spark__outflow_utc_time(local, tz) -%}
    cast(to_utc_timestamp({{ local }}, {{ tz }}) as timestamp_ntz)
{%- endmacro %}
