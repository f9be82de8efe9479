"""kill -9 a sync mid-run, rerun it, and compare what the sandbox holds with the model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from activations.sandboxes.testing import make_triggers, sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from tests.activations_fixtures import WarehouseRef, open_warehouse

RUNNER = """
import sys
from activations.config import load_sync
from activations.engine import run_sync
run_sync(load_sync(sys.argv[1]), warehouse=sys.argv[2] or None)  # '': the warehouse the settings name
"""

BATCH = 50


def _run_and_kill(
    cfg_path: Path, warehouse: WarehouseRef, sb: WebhookSandbox, after_batches: int, startup: float = 60
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(cfg_path), str(warehouse)],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + startup
    while sb.stats.get("batches_accepted", 0) < after_batches:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "sync subprocess made no progress"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kind", ["audience", "trigger"])
def test_kill_9_then_rerun_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, sandbox: WebhookSandbox, any_warehouse: WarehouseRef, kind: str
) -> None:
    """On DuckDB and on PostgreSQL."""
    warehouse = any_warehouse
    rows = 2000
    con = open_warehouse(warehouse)
    if kind == "audience":
        from activations.sandboxes.testing import make_audience

        make_audience(con, rows=rows)
        d = sync_dict(sandbox.url, batch_size=BATCH)
    else:
        make_triggers(con, rows=rows)
        d = sync_dict(sandbox.url, name="welcome", source="trg_welcome", mode="insert", batch_size=BATCH)
    con.close()
    cfg = write_sync(tmp_path / "syncs", d)
    sandbox.state.delay = 0.02  # slow destination so the kill lands mid-run

    _run_and_kill(Path(cfg.path or ""), warehouse, sandbox, after_batches=8)
    received_before = sandbox.stats["rows_applied"] + sandbox.stats.get("duplicates_suppressed", 0)
    assert received_before < rows  # really killed mid-run

    con = open_warehouse(warehouse)
    acked = con.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone()[0]
    interrupted = con.execute("SELECT status FROM outflow_sync.sync_runs").fetchall()
    assert interrupted == [("running",)]
    # every acknowledged batch is committed; at most the in-flight batch was received but not committed
    assert received_before - BATCH <= acked <= received_before
    con.close()

    sandbox.state.delay = 0.0
    from activations.engine import run_sync

    res = run_sync(cfg, warehouse=warehouse)
    assert res.status == "success"
    assert res.added == rows - acked  # only what was not acknowledged is sent again

    con = open_warehouse(warehouse)
    statuses = [r[0] for r in con.execute("SELECT status FROM outflow_sync.sync_runs ORDER BY started_at").fetchall()]
    assert statuses == ["interrupted", "success"]
    if kind == "audience":
        model = {
            str(r[0]): {"email": r[1], "firstName": r[2], "score": r[3]}
            for r in con.execute("SELECT person_id, email, first_name, score FROM main.sync_contacts").fetchall()
        }
        assert sandbox.records("contacts") == model  # equal: no missing key, nothing extra
        resent = sandbox.stats["rows_applied"] - rows
    else:
        keys = [r[0] for r in con.execute("SELECT trigger_id FROM main.trg_welcome").fetchall()]
        msgs = sandbox.messages("events")
        assert sorted(m["key"] for m in msgs) == sorted(keys)  # every trigger delivered exactly once
        resent = sandbox.stats.get("duplicates_suppressed", 0)
    assert 0 <= resent <= BATCH  # at most the in-flight batch went twice
    con.close()
