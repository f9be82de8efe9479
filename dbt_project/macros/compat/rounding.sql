{#- Round to `digits` decimals, half away from zero, on the exact binary value of an 8-byte float: DuckDB's
    round(double, n), which gives 18.9 for 18.95 (stored as 18.94999...). PostgreSQL has no round(double, n);
    round(numeric) first reduces the float to 15 significant digits (18.95 exactly) and rounds that up, so a
    naive shim disagrees on many lead scores. The portable form works in IEEE doubles only:
      y = x * 10^digits; away from a tie (|y - trunc(y)| <> 0.5) the nearest integer is exact; when y is exactly
      on a tie, the exact error of the product (Dekker's two-product, splitting x at 27 bits) tells whether x*10^d
      was below, on or above it. Then n / 10^digits is the nearest double to the decimal result.
    Bit for bit equal to DuckDB's round: tests/integration/postgres/test_parity.py checks 16,000 values on both. -#}
{% macro outflow_round(expr, digits) -%}
    {{ return(adapter.dispatch('outflow_round')(expr, digits)) }}
{%- endmacro %}

{% macro default__outflow_round(expr, digits) -%}
    {%- set m = 'cast(' ~ (10 ** (digits | int)) ~ ' as ' ~ outflow_double() ~ ')' -%}
    {%- set split = 'cast(134217729 as ' ~ outflow_double() ~ ')' -%}
    (
        select case
            when abs(r.y - trunc(r.y)) > 0.5 then trunc(r.y) + sign(r.y)
            when abs(r.y - trunc(r.y)) < 0.5 then trunc(r.y)
            when sign((r.xh * {{ m }} - r.y) + (r.x - r.xh) * {{ m }}) = -sign(r.y) then trunc(r.y)
            else trunc(r.y) + sign(r.y)
        end / {{ m }}
        from (
            select x.x, x.x * {{ m }} as y, x.x * {{ split }} - (x.x * {{ split }} - x.x) as xh
            from (select cast({{ expr }} as {{ outflow_double() }}) as x) as x
        ) as r
    )
{%- endmacro %}

{% macro duckdb__outflow_round(expr, digits) -%}
    round({{ expr }}, {{ digits }})
{%- endmacro %}
