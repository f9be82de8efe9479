"""kill -9 a sync from Spark mid-run, rerun it, and compare what the sandbox holds with the model: the existing
crash/resume test (tests/integration/activations/test_sync_crash_resume.py) with the model in Spark and the sync
state in the state store (a DuckDB file).

Both runs are subprocesses with a local Spark of their own (their own OUTFLOW_SPARK_WAREHOUSE: the session's
shared build keeps its embedded metastore, which admits one process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from outflow.warehouse import connect
from tests.integration.activations.test_sync_crash_resume import BATCH, RUNNER, _run_and_kill

pytestmark = pytest.mark.spark

ROWS = 2000
PREPARE = """
import sys
from activations.sandboxes.testing import make_audience
from outflow.warehouse import connect
with connect() as wh:
    make_audience(wh, rows=int(sys.argv[1]))
"""


def test_kill_9_then_rerun_from_spark(tmp_path: Path, sandbox: WebhookSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "state.duckdb"
    env = {
        "OUTFLOW_TARGET": "spark",
        "OUTFLOW_SPARK_WAREHOUSE": str(tmp_path / "spark"),
        "OUTFLOW_STATE_STORE": str(store),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("OUTFLOW_SPARK_MASTER", raising=False)
    subprocess.run([sys.executable, "-c", PREPARE, str(ROWS)], env={**os.environ}, check=True, capture_output=True)
    cfg = write_sync(tmp_path / "syncs", sync_dict(sandbox.url, batch_size=BATCH))
    sandbox.state.delay = 0.02  # slow destination so the kill lands mid-run

    # RUNNER's warehouse argument "": connect() from the settings, i.e. Spark, with the state store
    _run_and_kill(Path(cfg.path or ""), "", sandbox, after_batches=8, startup=180)
    received_before = sandbox.stats["rows_applied"] + sandbox.stats.get("duplicates_suppressed", 0)
    assert received_before < ROWS  # really killed mid-run
    with connect(store) as con:
        acked = con.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone()[0]
        assert con.execute("SELECT status FROM outflow_sync.sync_runs").fetchall() == [("running",)]
    assert received_before - BATCH <= acked <= received_before

    sandbox.state.delay = 0.0
    rerun = subprocess.run(
        [sys.executable, "-c", RUNNER, str(cfg.path), ""], env={**os.environ}, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    with connect(store) as con:
        runs = con.execute("SELECT status FROM outflow_sync.sync_runs ORDER BY started_at").fetchall()
        statuses = [r[0] for r in runs]
        assert statuses == ["interrupted", "success"]
        model = {  # the copy of the Spark model this run read
            str(r[0]): {"email": r[1], "firstName": r[2], "score": r[3]}
            for r in con.execute("SELECT person_id, email, first_name, score FROM main.sync_contacts").fetchall()
        }
    assert len(model) == ROWS
    assert sandbox.records("contacts") == model  # nothing missing, nothing extra
    assert 0 <= sandbox.stats["rows_applied"] - ROWS <= BATCH  # at most the in-flight batch went twice
