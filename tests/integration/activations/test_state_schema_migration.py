"""The sync state moved from schema ``outflow`` (ambiguous with the catalog of ``outflow.duckdb``) to
``outflow_sync``: a warehouse of the old layout is migrated the first time the engine opens it, rows and keys
kept, once, on both targets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from activations.privacy import DDL as PRIVACY_DDL
from activations.state import DDL, OLD_SCHEMA, SCHEMA, ensure_schema, migrate_old_schema, qualified
from outflow.warehouse import Warehouse, connect
from tests.warehouse_fixtures import TARGETS, fresh_database

OUTFLOW = str(Path(sys.executable).with_name("outflow"))


@pytest.fixture(params=TARGETS)
def old_layout(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], Warehouse]:
    """A warehouse as the engine left it before the rename: its tables in schema ``outflow``, on DuckDB in the
    default file name ``outflow.duckdb`` (so the catalog is called ``outflow`` too)."""
    if request.param == "duckdb":
        env = {"OUTFLOW_TARGET": "duckdb", "OUTFLOW_WAREHOUSE": str(tmp_path / "outflow.duckdb")}
        con = connect(tmp_path / "outflow.duckdb")
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"))
        env = {"OUTFLOW_TARGET": "postgres", "OUTFLOW_POSTGRES_URL": url}
        con = connect(url=url)
    old = qualified(con, OLD_SCHEMA)  # how the engine named it then
    for stmt in (*DDL, *PRIVACY_DDL):
        con.execute(stmt.format(ns=old))
    con.execute(f"INSERT INTO {old}.sync_state VALUES ('aud', 'k1', 11, TIMESTAMP '2026-11-01 10:00:00', 'r1')")
    con.execute(f"INSERT INTO {old}.sync_state VALUES ('aud', 'k2', 12, TIMESTAMP '2026-11-01 10:00:00', 'r1')")
    con.execute(
        f"INSERT INTO {old}.sync_rejected_rows VALUES ('aud', 'k3', 'add', 2, 'invalid email', "
        "TIMESTAMP '2026-11-01 10:00:00', TIMESTAMP '2026-11-02 10:00:00')"
    )
    con.execute(
        f"INSERT INTO {old}.sync_row_log VALUES ('r1', 'aud', 'k3', 'add', 'rejected', 'invalid email', "
        "TIMESTAMP '2026-11-01 10:00:00')"
    )
    con.execute(
        f"INSERT INTO {old}.erasure_ledger VALUES ('req1', 'email', 'abc', TIMESTAMP '2026-10-01 00:00:00', "
        "TIMESTAMP '2026-10-02 00:00:00', NULL)"
    )
    con.execute("CREATE TABLE main.keep_me (a INTEGER)")  # nothing of the user's is touched
    return env, con


def test_an_old_warehouse_is_migrated_once_with_its_rows_and_keys(old_layout) -> None:
    _, con = old_layout
    with con:
        ensure_schema(con)
        assert con.tables(OLD_SCHEMA) == []  # the old schema is gone
        assert not con.execute(
            "select count(*) from information_schema.schemata where catalog_name = current_database() "
            "and schema_name = ?",
            [OLD_SCHEMA],
        ).fetchone()[0]
        # unqualified names work now, also in outflow.duckdb
        assert con.execute(f"SELECT key, row_hash FROM {SCHEMA}.sync_state ORDER BY key").fetchall() == [
            ("k1", 11),
            ("k2", 12),
        ]
        assert con.execute(f"SELECT key, last_error FROM {SCHEMA}.sync_rejected_rows").fetchall() == [
            ("k3", "invalid email")
        ]
        assert con.execute(f"SELECT status, message FROM {SCHEMA}.sync_row_log").fetchall() == [
            ("rejected", "invalid email")
        ]
        assert con.execute(f"SELECT request_id FROM {SCHEMA}.erasure_ledger").fetchall() == [("req1",)]
        assert con.table_exists("main", "keep_me")
        # the keys came along: a second row for the same (sync, key) is refused
        with pytest.raises(Exception):  # noqa: B017,PT011  (each engine's own constraint error)
            con.execute(f"INSERT INTO {SCHEMA}.sync_rejected_rows (sync_name, key, attempts) VALUES ('aud', 'k3', 1)")
        # idempotent: nothing left to move, nothing changes
        assert migrate_old_schema(con) == []
        ensure_schema(con)
        assert con.execute(f"SELECT count(*) FROM {SCHEMA}.sync_state").fetchone() == (2,)


def test_the_cli_migrates_and_lists_the_old_rejected_rows(old_layout) -> None:
    """`outflow sync rejected` on a warehouse of the old layout: the rows the old schema held, listed."""
    env, con = old_layout
    con.close()
    out = subprocess.run(
        [OUTFLOW, "sync", "rejected", "aud"], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "aud\tk3\tadd\t2\tinvalid email\t" in out.stdout


def test_dbt_reads_the_old_schema_until_the_engine_moves_it(tmp_path: Path) -> None:
    """A build before the first sync after the upgrade still suppresses by the erasure ledger where it lies."""
    from outflow import settings
    from outflow.build import run_dbt

    warehouse = tmp_path / "outflow.duckdb"
    with connect(warehouse) as con:
        for stmt in (*DDL, *PRIVACY_DDL):
            con.execute(stmt.format(ns=qualified(con, OLD_SCHEMA)))
    compiled = settings.dbt_target_dir() / "compiled" / "outflow" / "models" / "consent"

    def ledger() -> str:
        run_dbt(["compile", "--select", "erased_persons"], warehouse=warehouse)
        return (compiled / "erased_persons.sql").read_text()

    assert '"outflow"."outflow"."erasure_ledger"' in ledger()
    with connect(warehouse) as con:
        ensure_schema(con)
    assert '"outflow"."outflow_sync"."erasure_ledger"' in ledger()
