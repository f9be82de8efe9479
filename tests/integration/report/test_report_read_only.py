"""`outflow report`, `outflow audience export`, `outflow person explain`, `journey status`, `journey history` and
`privacy report` only read: they open the warehouse read-only, so they run while a second real process reads it,
and they create nothing (no sync state schema on a warehouse no sync has run against). On an empty warehouse the
report commands say, in one line, to run `outflow build`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from activations.state import SCHEMA
from outflow.warehouse import connect

OUTFLOW = str(Path(sys.executable).with_name("outflow"))
READ = """
import sys
from outflow.warehouse import connect
con = connect(sys.argv[1], read_only=True)
print("reading", flush=True)
sys.stdin.readline()  # until the test says so
con.close()
"""


def _env(path: Path) -> dict[str, str]:
    # no wait for a lock: a command that tried to open the file read-write would fail at once
    return {**os.environ, "OUTFLOW_WAREHOUSE": str(path), "OUTFLOW_TARGET": "duckdb", "OUTFLOW_LOCK_TIMEOUT": "0"}


def _run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OUTFLOW, *args], env=_env(path), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def copy(built_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("readonly") / "outflow.duckdb"
    with connect(built_warehouse) as src:
        src.execute("checkpoint")
    shutil.copy(built_warehouse, path)
    return path


def test_the_report_commands_read_beside_another_reader_and_create_nothing(copy: Path, tmp_path: Path) -> None:
    with connect(copy, read_only=True) as con:
        assert not con.table_exists(SCHEMA, "sync_runs")  # no sync has run against it
        audience, person = con.execute(
            "SELECT audience, min(person_id) FROM main.int_audience__activation GROUP BY 1 ORDER BY 1 LIMIT 1"
        ).fetchone()
    before = copy.stat().st_mtime_ns
    reader = subprocess.Popen([sys.executable, "-c", READ, str(copy)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        site = _run(copy, "report", "--out", str(tmp_path / "site"), "--max-people", "5")
        export = _run(copy, "audience", "export", audience, "--csv")
        explain = _run(copy, "person", "explain", person, "--output", "json")
    finally:
        reader.communicate("\n", timeout=30)
    for proc in (site, export, explain):
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "lock" not in (proc.stdout + proc.stderr).lower()
    assert "No sync has run yet" in (tmp_path / "site" / "index.html").read_text()
    assert export.stdout.startswith("person_id,") and person in export.stdout
    assert '"Person ' + person in explain.stdout
    assert copy.stat().st_mtime_ns == before
    with connect(copy, read_only=True) as con:
        assert not con.table_exists(SCHEMA, "sync_runs") and not con.tables(SCHEMA)


def test_on_an_empty_warehouse_they_say_to_build_first(tmp_path: Path) -> None:
    path = tmp_path / "outflow.duckdb"
    connect(path).close()
    for args in (["report", "--out", str(tmp_path / "site")], ["audience", "export", "vip"],
                 ["person", "explain", "p_0"]):  # fmt: skip
        proc = _run(path, *args)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, (args, proc.stderr)
        out = (proc.stdout + proc.stderr).strip()
        assert "\n" not in out and "run `outflow build` first" in out, (args, out)
    with connect(path, read_only=True) as con:
        assert not con.tables(SCHEMA)


def test_journey_status_history_and_privacy_report_only_read(copy: Path, tmp_path: Path) -> None:
    """`journey status`, `journey history` and `privacy report` run beside another reader and write nothing once
    their tables exist; before any journey ran, `journey status` says so in one line."""
    from activations.journeys.engine import ensure_tables
    from activations.privacy import ensure_privacy_schema
    from activations.rows import open_state

    fresh = tmp_path / "no_journeys.duckdb"
    shutil.copy(copy, fresh)
    never = _run(fresh, "journey", "status", "welcome")
    assert never.returncode == 0 and "no journey evaluated yet" in never.stdout + never.stderr, never.stderr
    assert "first_email" in never.stdout  # the steps, at zero
    with connect(fresh, read_only=True) as con:
        assert "journey_history" not in con.tables("outflow_journeys")  # and it created nothing

    path = tmp_path / "with_tables.duckdb"
    shutil.copy(copy, path)
    with connect(path) as con:  # what a first sync and a first journey evaluation create
        open_state(con)
        ensure_privacy_schema(con)
        ensure_tables(con)
        con.execute("checkpoint")
        (person,) = con.execute("SELECT min(person_id) FROM main.dim_profiles").fetchone()
    before = path.stat().st_mtime_ns
    reader = subprocess.Popen([sys.executable, "-c", READ, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        status = _run(path, "journey", "status", "welcome")
        history = _run(path, "journey", "history", person)
        privacy = _run(path, "privacy", "report", person)
    finally:
        reader.communicate("\n", timeout=30)
    for proc in (status, history, privacy):
        assert proc.returncode == 0 and "lock" not in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr
    assert "last evaluated never" in status.stdout + status.stderr and "first_email" in status.stdout
    assert "has not been in any journey" in history.stdout
    assert "nothing known about" in privacy.stdout or "person(s)" in privacy.stdout
    assert path.stat().st_mtime_ns == before
