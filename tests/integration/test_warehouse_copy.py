"""A DuckDB warehouse file copied under another name, in another folder, keeps working: DuckDB names a file's
catalog after its stem, so nothing stored in the file may name that catalog (macros/relation_names.sql). Its views
read, `outflow identity` and a sync dry run run on it, a day builds on it, and the original is left as it was. A
view stored by DuckDB 1 still names the old catalog: the CLI says so in one line, and one build recreates it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outflow import settings
from outflow.cli import app
from outflow.generate import DEFAULT_AS_OF
from outflow.pipeline import build, generate_and_load
from outflow.warehouse import QueryError, WarehouseError, connect
from tests.demo_builds import DEMO_PEOPLE, DEMO_SEED, copy_duckdb

OUTFLOW = [sys.executable, "-c", "from outflow.cli import run; run()"]
SYNC = "hot_leads_hubspot"


def _views(path: Path) -> list[tuple[str, str]]:
    """Every view of the warehouse, each read once through `outflow.warehouse`."""
    with connect(path, read_only=True) as con:
        views = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'VIEW' and table_catalog = current_database() order by 1, 2"
        ).fetchall()
        for schema, name in views:
            con.execute(f'select * from "{schema}"."{name}" limit 1').fetchall()
    return views


def _counts(path: Path) -> dict[str, int]:
    with connect(path, read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
            "and table_catalog = current_database()"
        ).fetchall()
        return {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}


def _outflow(path: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OUTFLOW_WAREHOUSE": str(path), "DAGSTER_HOME": str(tmp_path / "dagster"), "COLUMNS": "300"}
    return subprocess.run([*OUTFLOW, *args], env=env, capture_output=True, text=True, timeout=300)


def _name_the_old_catalog_of(path: Path, catalog: str, view: str, query: str) -> None:
    """Store ``view`` as DuckDB 1 stored dbt's views: reading a table of ``catalog``, the file's name when it was
    built (attached for the moment, as that file then was), holding what ``query`` gives."""
    with connect(path) as con:
        con.execute(f"attach ':memory:' as {catalog}")
        con.execute(f"create table {catalog}.main.{view} as {query}")
        con.execute(f"create or replace view main.{view} as select * from {catalog}.main.{view}")
        con.execute(f"detach {catalog}")


def test_a_copied_warehouse_reads_builds_and_leaves_the_original_alone(built_warehouse: Path, tmp_path: Path) -> None:
    before = _counts(built_warehouse)
    copy = tmp_path / "elsewhere" / "backup_copy.duckdb"
    copy.parent.mkdir()
    copy_duckdb(built_warehouse, copy)
    assert copy.stem != built_warehouse.stem and copy.parent != built_warehouse.parent

    assert len(_views(copy)) >= 10
    identity = _outflow(copy, tmp_path, "identity")
    assert identity.returncode == 0, identity.stderr
    dry = _outflow(copy, tmp_path, "sync", "run", SYNC, "--dry-run")
    assert dry.returncode == 0 and "dry run" in dry.stdout + dry.stderr, dry.stderr

    # a view stored before dbt named relations without the catalog: one line says what to run
    view = "int_identity__record_persons"
    _name_the_old_catalog_of(copy, built_warehouse.stem, view, f"select * from main.{view}")
    stale = _outflow(copy, tmp_path, "identity")
    assert stale.returncode == 1 and "Traceback" not in stale.stderr, stale.stderr
    errors = [ln for ln in (stale.stdout + stale.stderr).splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"name the catalog '{built_warehouse.stem}'" in errors[0], stale
    assert "run `outflow build` once" in errors[0], errors

    # a day later, built on the copy: its views are recreated and name no catalog
    generate_and_load(
        DEMO_PEOPLE, DEMO_SEED, warehouse=copy, data_dir=tmp_path / "day2", as_of=DEFAULT_AS_OF + timedelta(days=1)
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        run = build(warehouse=copy)
    assert run.success, run.failures()[:3]
    results = json.loads((settings.dbt_target_dir() / "run_results.json").read_text())["results"]
    stored = {r["unique_id"].rsplit(".", 1)[-1]: r.get("compiled_code") or "" for r in results}
    views = _views(copy)
    for _, name in views:
        if name in stored:  # dbt's views (the segments' and the sync engine's are written elsewhere)
            assert f'"{copy.stem}".' not in stored[name] and f"{copy.stem}." not in stored[name], name
    assert sum(name in stored for _, name in views) >= 10
    with connect(copy, read_only=True) as con:
        assert con.execute("select count(*) from main.int_identity__record_persons").fetchone()[0] > 0

    # in this process, which dbt's DuckDB still holds the file open in
    env = {"OUTFLOW_WAREHOUSE": str(copy), "DAGSTER_HOME": str(tmp_path / "dagster")}
    for args in (["identity"], ["sync", "run", SYNC, "--dry-run"]):
        out = CliRunner().invoke(app, args, env=env)
        assert out.exit_code == 0, out.output
    assert _counts(built_warehouse) == before  # the original: every table's rows as they were
    _views(built_warehouse)


def test_only_a_view_naming_a_catalog_that_is_gone_says_to_build(tmp_path: Path) -> None:
    path = tmp_path / "renamed.duckdb"
    with connect(path) as con:
        con.execute("create table main.t as select 1 as x")
    _name_the_old_catalog_of(path, "old", "v", "select * from main.t")
    with connect(path, read_only=True) as con:
        for read in (con.execute, con.fetch_arrow):
            with pytest.raises(WarehouseError, match="views name the catalog 'old'.*run `outflow build` once"):
                read("select * from main.v")
        # a name of the user's own that no view holds: DuckDB's message, not the hint
        with pytest.raises(QueryError) as typo:
            con.execute("select * from gone.main.t")
        assert not isinstance(typo.value, WarehouseError) and "gone.main" in str(typo.value)
