"""kill -9 a trigger sync while Braze (which does not de-duplicate) holds back the answer to a batch it has
applied: the acknowledgement is lost. Then run it again.

- ``delivery: at_least_once`` (default): the rerun sends only the unacknowledged batch again, so exactly
  that batch's events reach Braze twice and every other event once.
- ``delivery: at_most_once``: the batch was recorded in flight before it was sent; the rerun records its rows
  as ``unknown`` in the run log (under the killed run) and sends none of them again: no event twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from activations.engine import run_sync
from activations.sandboxes.testing import VENDOR_PLANS, make_triggers, vendor_sync_dict, write_sync
from activations.sandboxes.triggers import BrazeSandbox
from tests.activations_fixtures import WarehouseRef, open_warehouse

RUNNER = """
import sys
from activations.config import load_sync
from activations.engine import run_sync
run_sync(load_sync(sys.argv[1]), warehouse=sys.argv[2])
"""
TOKEN = "sandbox-secret-token-0123456789"
ROWS, BATCH = 1000, 50


def _ids(sb: BrazeSandbox) -> Counter[str]:
    return Counter(e["properties"]["outflow_event_id"] for e in sb.events())


def _kill_after_a_lost_answer(cfg_path: Path, warehouse: WarehouseRef, sb: BrazeSandbox) -> None:
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(cfg_path), str(warehouse)], env={**os.environ},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while sb.stats.get("rows_applied", 0) < 3 * BATCH:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "sync subprocess made no progress"
        time.sleep(0.01)
    sb.inject("slow_answer", seconds=10, times=1)  # the next batch is applied, its answer held back
    while sb.stats.get("fault_slow_answer", 0) < 1:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.5)  # the batch is applied; the subprocess waits for its answer
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("delivery", ["at_least_once", "at_most_once"])
def test_kill_9_with_a_lost_acknowledgement(
    delivery: str, tmp_path: Path, any_warehouse: WarehouseRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On DuckDB and on PostgreSQL."""
    warehouse = any_warehouse
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", TOKEN)
    with open_warehouse(warehouse) as con:
        make_triggers(con, rows=ROWS)
    plan = VENDOR_PLANS["braze"]
    with BrazeSandbox(token=TOKEN) as sb:
        d = vendor_sync_dict(
            "braze", sb.url, mode="insert", source="trg_welcome", primary_key="trigger_id", fields=plan["fields"],
            batch_size=BATCH, delivery=delivery,
        )  # fmt: skip
        cfg = write_sync(tmp_path / "syncs", d)
        _kill_after_a_lost_answer(Path(cfg.path or ""), warehouse, sb)
        before = _ids(sb)
        assert len(before) < ROWS and max(before.values()) == 1
        with open_warehouse(warehouse) as c:
            acked = c.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone()[0]  # type: ignore[index]
            (killed_run,) = c.execute("SELECT run_id FROM outflow_sync.sync_runs").fetchone()  # type: ignore[misc]
        assert acked == len(before) - BATCH  # the held-back batch was applied, never acknowledged

        res = run_sync(cfg, warehouse=warehouse)
        after = _ids(sb)
        assert set(after) == set(before) | set(after) and len(after) == ROWS  # every trigger reached Braze
        twice = [k for k, n in after.items() if n > 1]
        with open_warehouse(warehouse) as c:
            unknown = c.execute(
                "SELECT run_id, count(*) FROM outflow_sync.sync_row_log WHERE status = 'unknown' GROUP BY run_id"
            ).fetchall()
            left = c.execute("SELECT count(*) FROM outflow_sync.sync_in_flight").fetchone()
        if delivery == "at_least_once":
            assert res.added == ROWS - acked and res.unknown == 0  # only what was not acknowledged is sent again
            assert len(twice) == BATCH and unknown == []  # exactly the batch whose answer was lost, twice
        else:
            assert twice == [] and res.unknown == BATCH  # none twice; the lost batch is 'unknown', not resent
            assert res.added == ROWS - acked - BATCH
            assert unknown == [(killed_run, BATCH)] and left == (0,)
