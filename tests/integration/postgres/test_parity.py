"""Parity: the demo data, built with the real `dbt build` on DuckDB and on PostgreSQL, gives the same tables.

The default demo mix (as tests/conftest.py's built_warehouse) is generated once; the real loader (outflow.load)
loads the same files into DuckDB and into a fresh PostgreSQL database, and the project is built on each with the real
`dbt build` (OUTFLOW_TARGET=postgres for the second).
Then every model, seed and snapshot is compared row for row with types normalised (see parity.py: integers as
Int64, floats and decimals as Float64 within a relative 1e-9, timestamps as naive UTC microseconds). Any difference
fails and names the model, the columns and a sample row from each side. The lead scores are compared exactly:
their rounding must be bit for bit the same on both engines.

Both sides are built by `outflow.pipeline.build` (dbt in three parts, with the phone and identity steps between
them running on each engine through outflow.warehouse). No test glue: the raw data reaches each engine through
the loader.

Runs in about a minute and a half (two builds of the 2,000-person mix); marked `postgres`.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pytest
import sqlglot

from outflow import settings
from outflow.build import run_dbt
from outflow.segments.compiler import portable_sql
from outflow.warehouse import connect
from tests.demo_builds import Builds
from tests.demo_builds import postgres_env as _postgres_env
from tests.integration.postgres.parity import (
    compare,
    duckdb_relations,
    duckdb_table,
    node_kinds,
    postgres_relations,
    postgres_table,
)
from tests.warehouse_fixtures import fresh_database

pytestmark = pytest.mark.postgres

#: Columns rounded by outflow_round: equal bit for bit, not within a tolerance.
EXACT = {
    "fct_lead_scores": ["lead_score", "engagement_score"],
    "fct_lead_scores_backtest": ["lead_score", "engagement_score"],
    "int_lead_scores__engagement": ["engagement_score"],
}


def test_the_loader_fills_both_warehouses_the_same(builds: Builds) -> None:
    """outflow.load puts the same files into DuckDB and PostgreSQL: the same row counts, the same as-of date and,
    row for row, the same raw and ground-truth tables."""
    duck_load, pg_load = builds.loads
    assert pg_load.rows == duck_load.rows and sum(pg_load.rows.values()) > 50_000
    assert pg_load.truth_loaded and builds.pg_as_of == builds.as_of is not None
    differences = []
    with connect(builds.warehouse) as con, adbc.connect(builds.pg_url) as pg:
        for schema in ("raw", "truth"):
            duck_rel, pg_rel = duckdb_relations(con, schema), postgres_relations(pg, schema)
            assert set(duck_rel) == set(pg_rel) and len(duck_rel) >= 3
            for name in sorted(duck_rel):
                left = duckdb_table(con, schema, name, duck_rel[name])
                right = postgres_table(pg, schema, name, pg_rel[name])
                differences += [str(d) for d in compare(f"{schema}.{name}", left, right, ("duckdb", "postgres"))]
    assert not differences, "\n".join(differences)


def test_dbt_build_passes_on_both_targets(builds: Builds) -> None:
    """Every model, seed, snapshot, data test and unit test passes on both; PostgreSQL runs all of them but the
    Python models (and the tests that hang on them only)."""
    for run in (builds.duckdb_run, builds.postgres_run):
        assert run.success and not run.failures()
        assert all(r["status"] in ("success", "pass") for r in run.results), [
            (r["name"], r["status"]) for r in run.results if r["status"] not in ("success", "pass")
        ]
    duck, pg = node_kinds(builds.duckdb_run), node_kinds(builds.postgres_run)
    unit_tests = sum(1 for n in builds.manifest["unit_tests"].values())
    assert unit_tests >= 10 and duck["unit_test"] == unit_tests and pg["unit_test"] == unit_tests
    assert duck["snapshot"] == pg["snapshot"] == 1
    assert duck["seed"] == pg["seed"]
    assert pg["model"] == duck["model"] - len(builds.python_models)
    tests_on_python = sum(
        1
        for n in builds.manifest["nodes"].values()
        if n["resource_type"] == "test"
        and set(n["depends_on"]["nodes"]) <= {f"model.outflow.{m}" for m in builds.python_models}
    )
    assert pg["test"] == duck["test"] - tests_on_python


def _differences(builds: Builds) -> list[str]:
    """Every difference between the two builds, over every model, seed and snapshot of the project."""
    nodes = [n for n in builds.manifest["nodes"].values() if n["resource_type"] in ("model", "seed", "snapshot")]
    assert len(nodes) >= 70
    differences = []
    with connect(builds.warehouse) as con, adbc.connect(builds.pg_url) as pg:
        duck_rel = {s: duckdb_relations(con, s) for s in {n["schema"] for n in nodes}}
        pg_rel = {s: postgres_relations(pg, s) for s in duck_rel}
        for node in sorted(nodes, key=lambda n: n["name"]):
            schema, name = node["schema"], node["alias"] or node["name"]
            if name not in duck_rel[schema] or name not in pg_rel[schema]:
                differences.append(f"{name}: missing on {'duckdb' if name not in duck_rel[schema] else 'postgres'}")
                continue
            left = duckdb_table(con, schema, name, duck_rel[schema][name])
            right = postgres_table(pg, schema, name, pg_rel[schema][name])
            differences += [str(d) for d in compare(name, left, right, ("duckdb", "postgres"))]
            for column in EXACT.get(name, []):
                a, b = left.sort("person_id")[column], right.sort("person_id")[column]
                if not a.eq_missing(b).all():
                    differences.append(f"{name}: {column} rounds differently on {int((~a.eq_missing(b)).sum())} rows")
    return differences


def test_every_model_equals_duckdb(builds: Builds) -> None:
    differences = _differences(builds)
    assert not differences, "\n".join(differences)


def test_unit_tests_run_on_both_targets(builds: Builds) -> None:
    """`dbt test --select test_type:unit` on each target: every unit test runs and passes."""
    expected = len(builds.manifest["unit_tests"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        duck = run_dbt(["test", "--select", "test_type:unit"], warehouse=builds.warehouse, as_of=builds.as_of)
    with pytest.MonkeyPatch.context() as mp:
        _postgres_env(mp, builds.pg_url)
        pg = run_dbt(["test", "--select", "test_type:unit"], as_of=builds.as_of)
    for run in (duck, pg):
        assert len(run.results) == expected
        assert {r["status"] for r in run.results} == {"pass"}


TITLES = [
    "vice president of sales",
    "vp marketing",
    "svp, growth",
    "head of growth",
    "head",
    "headhunter",
    "chief executive",
    "ceo & founder",
    "president",
    "vice-president",
    "director of marketing",
    "marketing manager",
    "team lead",
    "leader",
    "intern",
    "international sales",
    "data analyst",
    "engineering manager",
    "cto",
    "octopus wrangler",
]


def test_fit_rule_regexes_mean_the_same_on_both_engines(builds: Builds) -> None:
    """Every regex of the fit-rule seed matches the same titles on DuckDB (RE2) and PostgreSQL (ARE), with the
    project's regex macro semantics; a `\\b` pattern would not (PostgreSQL reads it as a backspace)."""
    values = ", ".join(f"('{t}')" for t in TITLES)
    with connect(builds.warehouse) as con:
        duck = con.execute(
            f"select r.rule_id, t.title from main.lead_fit_rules as r, (values {values}) as t (title) "
            "where r.operator = 'regex' and regexp_matches(lower(t.title), r.value) order by 1, 2"
        ).fetchall()
    with psycopg.connect(builds.pg_url) as pg:
        postgres = pg.execute(
            f"select r.rule_id, t.title from main.lead_fit_rules as r, (values {values}) as t (title) "
            "where r.operator = 'regex' and lower(t.title) ~ r.value order by 1, 2"
        ).fetchall()
        patterns = [v for (v,) in pg.execute("select value from main.lead_fit_rules where operator = 'regex'")]
        assert pg.execute(r"select 'vice president' ~ '\b(vp|vice president)\b'").fetchone() == (False,)
    assert patterns and not [p for p in patterns if "\\" in p], "seed regexes must not use backslash escapes"
    assert duck == postgres
    hits = set(duck)
    assert ("title_vp", "vice president of sales") in hits and ("title_vp", "svp, growth") in hits
    assert ("title_director", "head of growth") in hits and ("title_director", "headhunter") not in hits
    assert ("title_manager", "team lead") in hits and ("title_manager", "leader") not in hits
    assert ("title_intern", "intern") in hits and ("title_intern", "international sales") not in hits
    assert ("title_c_level", "ceo & founder") in hits and ("title_c_level", "octopus wrangler") not in hits


def _show(sql: str, **kw) -> list[tuple]:
    from dbt.cli.main import dbtRunner

    from outflow.build import dbt_env

    target = dbt_env(kw.get("warehouse"))
    project = str(settings.DBT_PROJECT_DIR)
    res = dbtRunner().invoke(
        ["--quiet", "show", "--inline", sql, "--limit", "100000", "--project-dir", project, "--profiles-dir", project]
        + ["--target", target, "--output", "json"]
    )
    assert res.success, res.exception
    return [tuple(row.values()) for row in res.result.results[0].agate_table.rows]


ROUNDING_CASES = [18.95, 58.15, 62.05, 0.05, -0.05, 0.15, 2.25, 21.95, 62.45, 13.93, 99.95, 0.49999999999999994]


def test_round_macro_is_the_same_on_both_engines(builds: Builds) -> None:
    """outflow_round(x, 1) gives the same double on both engines: half away from zero on the exact binary value
    (18.95 is stored as 18.9499... and rounds to 18.9), where a numeric cast on PostgreSQL would give 19.0.
    Besides the named cases, 16,002 computed values: every multiple of 1/80 in [-50, 50] (ties and their binary
    neighbours) and 100 * (1 - exp(-k / 397)), the shape of an engagement score."""
    d = "double precision"
    named = " union all ".join(f"select {20000 + i}, cast({x!r} as {d})" for i, x in enumerate(ROUNDING_CASES))
    sql = (
        f"select k, x, {{{{ outflow_round('x', 1) }}}} as r from ("
        f"select k, cast(k as {d}) / 80 as x from generate_series(-4000, 4000) as g (k) union all "
        f"select k + 10000, 100 * (1 - exp(-cast(k as {d}) / 397)) from generate_series(-4000, 4000) as g (k) "
        f"union all {named}) as v (k, x) order by k"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        duck = [(int(k), float(x), float(r)) for k, x, r in _show(sql, warehouse=builds.warehouse)]
    with pytest.MonkeyPatch.context() as mp:
        _postgres_env(mp, builds.pg_url)
        postgres = [(int(k), float(x), float(r)) for k, x, r in _show(sql)]
    assert len(duck) == 16002 + len(ROUNDING_CASES)
    assert duck == postgres
    exact = [float(Decimal(x).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)) for _, x, _ in duck]
    assert [r for _, _, r in duck] == exact
    by_k = {k: r for k, _, r in duck}
    assert by_k[20000] == 18.9 and by_k[20000 + len(ROUNDING_CASES) - 1] == 0.5


def test_generated_segment_sql_gives_the_same_answers_on_both_engines(builds: Builds) -> None:
    """SQL the segment compiler writes into dbt models (portable_sql) for the functions engines disagree on:
    rounding, integer division, try_cast and the float type give the same values on both."""
    tree = sqlglot.parse_one(
        "select i, round(x / 3, 1) as r, x / 4 as q, try_cast(s as double) as d, try_cast(s as int) as n, "
        "cast(x as double) / 7 as f "
        "from (values (1, 7, '12'), (2, 10, 'abc'), (3, 20, ' 3.25 '), (4, -8, '-1e2')) as v (i, x, s) order by i",
        read="duckdb",
    )
    sql = portable_sql(tree)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        duck = _show(sql, warehouse=builds.warehouse)
    with pytest.MonkeyPatch.context() as mp:
        _postgres_env(mp, builds.pg_url)
        postgres = _show(sql)

    def floats(rows: list[tuple]) -> list[tuple]:
        return [tuple(None if v is None else float(v) for v in row) for row in rows]

    assert floats(duck) == floats(postgres)
    assert floats(duck)[0] == (1.0, 2.3, 1.75, 12.0, 12.0, 1.0)
    assert floats(duck)[1][3:5] == (None, None)  # 'abc' is not a number on either engine


def test_incremental_build_a_week_later_equals_duckdb(builds: Builds, postgres_url: str, tmp_path: Path) -> None:
    """A second `dbt build` a week later takes the incremental paths (membership, holdout and trigger histories
    append entries and close exits) on both engines, and every model still matches. It builds on copies of the
    builds, so the tests that read them (whatever order the workers run them in) see the first builds."""
    for src in builds.warehouse.parent.glob(builds.warehouse.name + "*"):  # the file and its WAL
        shutil.copy(src, tmp_path / src.name)
    pg_copy = fresh_database(postgres_url, template=builds.pg_url.rsplit("/", 1)[1])
    builds = replace(builds, warehouse=tmp_path / builds.warehouse.name, pg_url=pg_copy)
    later = (date.fromisoformat(builds.as_of) + timedelta(days=7)).isoformat()
    with connect(builds.warehouse) as con:
        before = con.execute("select count(*) from main.segment_membership_history").fetchone()[0]
    exclude = ["--exclude", *builds.python_models] if builds.python_models else []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        run_dbt(["build"], warehouse=builds.warehouse, as_of=later)
    with pytest.MonkeyPatch.context() as mp:
        _postgres_env(mp, builds.pg_url)
        run_dbt(["build", *exclude], as_of=later)
    with connect(builds.warehouse) as con:
        after, closed = con.execute("select count(*), count(exited_at) from main.segment_membership_history").fetchone()
    assert after > before and closed > 0  # the week moved people in and out of segments
    differences = _differences(builds)
    assert not differences, "\n".join(differences)
