"""One runner per sync: a sync named twice runs once, a second runner (same process or another) is refused
with one line naming the holder, a dead holder is taken over, and the state holds one row per (sync, key)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activations.engine import SyncFailed, run_sync_async
from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from activations.state import SyncLocked, acquire_lock, ensure_schema, release_lock
from outflow.cli import app
from outflow.warehouse import QueryError, Warehouse
from tests.activations_fixtures import WarehouseRef, open_warehouse


def test_same_sync_named_twice_in_one_command_sends_once(
    tmp_path: Path, sandbox: WebhookSandbox, any_warehouse: WarehouseRef
) -> None:
    write_sync(tmp_path / "syncs", sync_dict(sandbox.url))
    base = ["--dir", str(tmp_path / "syncs")]  # the settings name the warehouse
    out = CliRunner().invoke(app, ["sync", "run", "contacts_webhook", "contacts_webhook", *base])
    assert out.exit_code == 0, out.stderr
    assert "sync contacts_webhook is named more than once: it runs once" in out.stderr
    assert sandbox.stats["requests"] == 5 and len(sandbox.records("contacts")) == 500  # 5 batches, once
    with open_warehouse(any_warehouse) as con:
        assert con.execute("SELECT count(*) FROM outflow_sync.sync_runs").fetchone() == (1,)
        assert con.execute("SELECT count(*), count(DISTINCT key) FROM outflow_sync.sync_state").fetchone() == (500, 500)


def test_second_runner_in_the_same_process_is_refused(
    tmp_path: Path, sandbox: WebhookSandbox, any_con: Warehouse
) -> None:
    con = any_con
    cfg = write_sync(tmp_path / "syncs", sync_dict(sandbox.url))

    async def both() -> list[object]:
        return await asyncio.gather(run_sync_async(cfg, con=con), run_sync_async(cfg, con=con), return_exceptions=True)

    first, second = asyncio.run(both())
    assert not isinstance(first, BaseException) and first.acked == 500  # type: ignore[union-attr]
    assert isinstance(second, SyncLocked) and not isinstance(second, SyncFailed)
    line = str(second)
    assert "\n" not in line and f"sync contacts_webhook is already running: held by pid {os.getpid()} on " in line
    assert sandbox.stats["requests"] == 5
    assert con.execute("SELECT count(*) FROM outflow_sync.sync_locks").fetchone() == (0,)  # released


def test_dead_holder_is_taken_over(any_con: Warehouse) -> None:
    con = any_con
    ensure_schema(con)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    con.execute(
        "INSERT INTO outflow_sync.sync_locks VALUES ('s', 'old-run', ?, ?, now()::TIMESTAMP, now()::TIMESTAMP)",
        [int(gone.stdout), os.uname().nodename],
    )
    acquire_lock(con, "s", "new-run")  # the holder's pid is gone on this host: taken over
    assert con.execute("SELECT run_id FROM outflow_sync.sync_locks").fetchall() == [("new-run",)]
    with pytest.raises(SyncLocked, match=f"held by pid {os.getpid()} on .* since 20"):
        acquire_lock(con, "s", "third-run")
    release_lock(con, "s", "new-run")
    assert con.execute("SELECT count(*) FROM outflow_sync.sync_locks").fetchone() == (0,)


def test_second_process_is_refused_with_one_line(
    tmp_path: Path, sandbox: WebhookSandbox, any_warehouse: WarehouseRef
) -> None:
    """DuckDB's file lock stops the second process on DuckDB; the sync's lock row does on PostgreSQL."""
    write_sync(tmp_path / "syncs", sync_dict(sandbox.url, batch_size=25, destination={"timeout_seconds": 30}))
    sandbox.state.delay = 2.0  # the first run (20 batches) is slow until the second has been refused
    cli = "from outflow.cli import run; run()"
    cmd = [sys.executable, "-c", cli, "sync", "run", "contacts_webhook", "--dir", str(tmp_path / "syncs")]
    first = subprocess.Popen(cmd, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while sandbox.stats.get("requests", 0) < 1:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        no_wait = {**os.environ, "OUTFLOW_LOCK_TIMEOUT": "0"}  # refused at once instead of waiting for the lock
        second = subprocess.run(cmd, env=no_wait, capture_output=True, text=True, timeout=120)
    finally:
        sandbox.state.delay = 0.0
        out, errs = first.communicate(timeout=120)
    assert first.returncode == 0, errs
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    held = "warehouse .* is in use by another process" if isinstance(any_warehouse, Path) else "sync contacts_webhook"
    assert re.search(f"{held}.*held by pid {first.pid} on .* since 20", lines[0]), lines[0]
    assert len(sandbox.records("contacts")) == 500


def test_state_holds_one_row_per_sync_and_key(any_con: Warehouse) -> None:
    con = any_con
    con.execute("CREATE SCHEMA outflow")  # a warehouse from before the constraint (and the rename), with duplicates
    con.execute(
        "CREATE TABLE outflow.sync_state (sync_name VARCHAR NOT NULL, key VARCHAR NOT NULL, row_hash BIGINT NOT NULL,"
        " acked_at TIMESTAMP NOT NULL, run_id VARCHAR)"
    )
    con.execute(
        "INSERT INTO outflow.sync_state VALUES ('s', 'k1', 1, '2026-01-01', 'r1'), ('s', 'k1', 2, '2026-01-02', 'r2'),"
        " ('s', 'k2', 3, '2026-01-01', 'r1'), ('t', 'k1', 4, '2026-01-01', 'r1')"
    )
    ensure_schema(con)  # migrates: de-duplicated, keeping the latest row of each key
    rows = con.execute("SELECT sync_name, key, row_hash FROM outflow_sync.sync_state ORDER BY 1, 2").fetchall()
    assert rows == [("s", "k1", 2), ("s", "k2", 3), ("t", "k1", 4)]
    with pytest.raises(QueryError, match="(?i)duplicate key|unique"):
        con.execute("INSERT INTO outflow_sync.sync_state VALUES ('s', 'k2', 9, now()::TIMESTAMP, 'r3')")
