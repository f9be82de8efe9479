"""Generated dbt SQL is portable: what DuckDB and PostgreSQL read differently becomes a compat dispatch macro."""

from __future__ import annotations

import sqlglot

from outflow.segments.audiences import audience_files
from outflow.segments.compiler import portable_sql
from outflow.settings import DBT_PROJECT_DIR


def _render(expr: str) -> str:
    return portable_sql(sqlglot.parse_one(expr, read="duckdb"), pretty=False)


def test_round_try_cast_and_the_float_type_become_macros() -> None:
    assert _render("ROUND(x, 1) > 2") == "{{ outflow_round('x', 1) }} > 2"
    assert _render("ROUND(x) > 2") == "{{ outflow_round('x', 0) }} > 2"
    assert _render("TRY_CAST(s AS DOUBLE) > 1") == "{{ outflow_try_cast_double('s') }} > 1"
    assert _render("TRY_CAST(s AS INT) > 1") == "CAST({{ outflow_try_cast_double('s') }} AS INT) > 1"
    assert _render("CAST(x AS DOUBLE) > 1") == "CAST(x AS {{ outflow_double() }}) > 1"
    # a date try_cast has no portable form yet: left as written
    assert _render("TRY_CAST(s AS DATE) > d") == "TRY_CAST(s AS DATE) > d"


def test_division_is_in_floating_point_on_every_engine() -> None:
    # DuckDB's `/` divides integers as floats; PostgreSQL's truncates: the divisor is cast
    assert _render("x / 4 > 1") == "x / CAST(4 AS {{ outflow_double() }}) > 1"


def test_nested_calls_and_quotes_stay_valid_jinja() -> None:
    sql = _render("ROUND(ROUND(x, 2) / 3, 1) = LENGTH('it''s')")
    assert sql == (
        "{{ outflow_round(outflow_round('x', 2) ~ ' / CAST(3 AS ' ~ outflow_double() ~ ')', 1) }} = LENGTH('it''s')"
    )
    assert _render("ROUND(LENGTH('a\\b'), 1) > 0") == "{{ outflow_round('LENGTH(\\'a\\\\b\\')', 1) }} > 0"


def test_audience_definitions_use_the_project_float_type() -> None:
    files = audience_files(
        DBT_PROJECT_DIR, {"hot_leads", "cart_abandoners", "customers", "lapsed_customers", "vip_rfm"}
    )
    sql = next(c for p, c in files.items() if p.name == "audience_definitions.sql")
    assert "AS {{ outflow_double() }}) AS holdout_pct" in sql
    assert "DOUBLE)" not in sql
