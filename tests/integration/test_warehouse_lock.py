"""Two real processes on one DuckDB warehouse: a second writer waits for the file lock (bounded, with a warning
naming the holder) and goes ahead when it is released; when the wait runs out it prints one line naming the
holder's PID and what to do. Readers open the warehouse read-only."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration.resources import WarehouseResource
from outflow.warehouse import connect

OUTFLOW = [sys.executable, "-c", "from outflow.cli import run; run()"]
HOLD = """
import sys
from outflow.warehouse import connect
con = connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.readline()  # until the test says so
con.close()
"""


def _holder(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def _env(path: Path, timeout: str) -> dict[str, str]:
    return {**os.environ, "OUTFLOW_WAREHOUSE": str(path), "OUTFLOW_LOCK_TIMEOUT": timeout, "COLUMNS": "300"}


def test_a_writer_that_waits_too_long_names_the_holder_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    connect(path).close()
    holder = _holder(path)
    try:
        proc = subprocess.run(
            [*OUTFLOW, "sync", "runs"], env=_env(path, "1"), capture_output=True, text=True, timeout=120
        )
    finally:
        holder.communicate("\n", timeout=30)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "waiting up to 1 s" in lines[0] and f"PID {holder.pid}" in lines[0], lines  # the visible wait
    assert len(lines) == 2 and f"pid {holder.pid}" in lines[1].lower() and "wait for it" in lines[1], lines


def test_a_writer_waits_for_the_lock_and_then_runs(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    connect(path).close()
    holder = _holder(path)
    waiting = subprocess.Popen(
        [*OUTFLOW, "sync", "runs"], env=_env(path, "120"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert waiting.stderr is not None
        first = waiting.stderr.readline()  # the warning comes while the holder still holds the file
        assert f"locked by another process (PID {holder.pid})" in first and "waiting up to 120 s" in first, first
        assert waiting.poll() is None
    finally:
        holder.communicate("\n", timeout=30)  # released: the waiting command goes ahead
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "sync" in out.splitlines()[0]  # the (empty) runs table's header
    with connect(path, read_only=True) as con:  # it wrote: the sync state schema exists
        assert con.table_exists("outflow_sync", "sync_runs")


def test_readers_share_the_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    with connect(path) as con:
        con.execute("create table t as select 1 as a")
    first = connect(path, read_only=True)
    try:  # a second process reads alongside a read-only reader, without waiting
        code = "import sys; from outflow.warehouse import connect; print(connect(sys.argv[1], read_only=True)"
        code += ".execute('select a from t').fetchone()[0])"
        proc = subprocess.run(
            [sys.executable, "-c", code, str(path)], env=_env(path, "0"), capture_output=True, text=True, timeout=60
        )
    finally:
        first.close()
    assert proc.returncode == 0 and proc.stdout.strip() == "1", proc.stderr


def test_a_dagster_step_that_met_the_lock_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wh.duckdb"
    connect(path).close()
    monkeypatch.setenv("OUTFLOW_LOCK_TIMEOUT", "0")  # the first attempt fails at once on the lock
    monkeypatch.setenv("OUTFLOW_LOCK_RETRY_SECONDS", "0")
    holder = _holder(path)
    attempts: list[int] = []

    @dg.asset
    def writes(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
        attempts.append(context.retry_number)
        if context.retry_number == 1:  # the retry: the other process has finished meanwhile
            holder.communicate("\n", timeout=30)
        with warehouse.connect() as con:
            con.execute("create table done as select 1 as a")

    @dg.asset
    def fails(warehouse: WarehouseResource) -> None:
        raise ValueError("not a lock problem")

    try:
        result = dg.materialize([writes], resources={"warehouse": WarehouseResource(path=str(path))})
    finally:
        if holder.poll() is None:
            holder.communicate("\n", timeout=30)
    assert result.success and attempts == [0, 1]
    with connect(path, read_only=True) as con:
        assert con.execute("select a from done").fetchone() == (1,)
    # any other failure is not retried
    other = dg.materialize([fails], resources={"warehouse": WarehouseResource(path=str(path))}, raise_on_error=False)
    assert not other.success
    assert len([e for e in other.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 0


def test_dbt_meeting_the_lock_asks_dagster_for_a_retry(
    built_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dbt step runs dbt through dagster-dbt: what dbt says when another process holds the DuckDB file reaches
    ``retry_on_lock`` in dagster-dbt's error, so the step is retried rather than failed."""
    from dagster_dbt import DbtCliResource

    from orchestration.defs.dbt import DBT_EXECUTABLE, DBT_PROJECT
    from orchestration.resources import retry_on_lock
    from outflow.build import dbt_env

    path = tmp_path / "wh.duckdb"
    with connect(built_warehouse, read_only=True) as src:
        src.execute("checkpoint")
    path.write_bytes(built_warehouse.read_bytes())
    for name in ("OUTFLOW_TARGET", "OUTFLOW_WAREHOUSE"):  # dbt_env sets them: restored after the test
        monkeypatch.setenv(name, os.environ.get(name, ""))
    dbt_env(path)
    holder = _holder(path)
    try:
        dbt = DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE)
        with pytest.raises(dg.RetryRequested) as retry, retry_on_lock():
            dbt.cli(["run", "--select", "stg_crm__contacts"], manifest=DBT_PROJECT.manifest_path).wait()
    finally:
        holder.communicate("\n", timeout=30)
    assert "Could not set lock on file" in str(retry.value.__cause__)


def test_listing_commands_read_alongside_another_reader(tmp_path: Path) -> None:
    """`outflow sync runs`, `sync rejected` and `sync log` only read the run log: they open the warehouse
    read-only, so they run while another process reads it (a read-write open would wait for that process)."""
    from activations.privacy import ensure_privacy_schema

    path = tmp_path / "wh.duckdb"
    with connect(path) as con:
        ensure_privacy_schema(con)
    reader = connect(path, read_only=True)
    outflow = str(Path(sys.executable).with_name("outflow"))
    try:
        for args in (["sync", "runs"], ["sync", "rejected"], ["sync", "log"]):
            proc = subprocess.run(
                [outflow, *args, "--warehouse", str(path)], env=_env(path, "0"), capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
            assert proc.returncode == 0, (args, proc.stdout + proc.stderr)
            assert "lock" not in (proc.stdout + proc.stderr).lower(), args
    finally:
        reader.close()
