"""A run stops, fails with its reason and loses nothing: account-level refusals, Retry-After, the run deadline.

Against the webhook sandbox on 127.0.0.1 (real HTTP). Each run below must end quickly: a persistent 404 or
413 stops after a handful of requests (not two per row), ``Retry-After`` is capped by
``destination.max_retry_after_seconds`` and no wait passes ``run_deadline_seconds``. Each runs on both targets
(the run log and the sync state on a DuckDB file and on a PostgreSQL database).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from activations.config import SyncConfig
from activations.engine import SyncFailed, run_sync
from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from outflow.cli import app
from outflow.warehouse import Warehouse
from tests.activations_fixtures import WarehouseRef, open_warehouse


def _cfg(tmp_path: Path, sb: WebhookSandbox, **kw: object) -> SyncConfig:
    return write_sync(tmp_path / "syncs", sync_dict(sb.url, **kw))


def _state(con: Warehouse) -> int:
    return con.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone()[0]  # type: ignore[index]


@pytest.mark.parametrize("code", [404, 413])
def test_account_level_refusal_stops_the_run_and_the_cli_exits_non_zero(
    code: int, tmp_path: Path, sandbox: WebhookSandbox, any_warehouse: WarehouseRef
) -> None:
    _cfg(tmp_path, sandbox)
    sandbox.inject("status", code=code, message="no such endpoint", times=100_000)
    out = CliRunner().invoke(
        app, ["sync", "run", "contacts_webhook", "--dir", str(tmp_path / "syncs"), "--warehouse", str(any_warehouse)]
    )
    assert out.exit_code == 1
    assert f"refused the first 6 requests alike (HTTP {code}" in out.stderr and "Traceback" not in out.stderr
    assert sandbox.stats["fault_status"] <= 8  # 500 rows: no longer ~2 requests per row
    with open_warehouse(any_warehouse) as con:
        assert con.execute("SELECT status FROM outflow_sync.sync_runs").fetchall() == [("failed",)]
        assert _state(con) == 0


def test_row_level_404_after_a_success_is_still_isolated(
    tmp_path: Path, sandbox: WebhookSandbox, any_con: Warehouse
) -> None:
    con = any_con
    run_sync(_cfg(tmp_path, sandbox, name="seed", mode="upsert"), con=con)
    con.execute("INSERT INTO main.sync_contacts VALUES (5000, 'new@example.com', 'n', 1, '')")
    con.execute("UPDATE main.sync_contacts SET score = 1234 WHERE person_id < 3")
    res = run_sync(_cfg(tmp_path, sandbox, name="updater", mode="update"), con=con)
    assert (res.status, res.rejected) == ("partial", 1)  # update-only: the unknown record alone is refused


def test_retry_after_inf_is_capped(tmp_path: Path, sandbox: WebhookSandbox, any_con: Warehouse) -> None:
    con = any_con
    cfg = _cfg(tmp_path, sandbox, destination={"max_retry_after_seconds": 0.1, "max_retries": 3})
    sandbox.inject("status", code=429, retry_after="inf", times=4)
    with pytest.raises(SyncFailed, match="still failing after 3 retries"):
        run_sync(cfg, con=con)
    assert sandbox.stats["fault_status"] == 4 and _state(con) == 0
    assert run_sync(cfg, con=con).acked == 500  # nothing lost: the next run sends everything


def test_retry_after_a_day_stops_at_the_run_deadline(
    tmp_path: Path, sandbox: WebhookSandbox, any_con: Warehouse
) -> None:
    con = any_con
    cfg = _cfg(tmp_path, sandbox, run_deadline_seconds=30)  # Retry-After capped at 60 s, past the deadline
    run_sync(cfg, con=con)
    con.execute("UPDATE main.sync_contacts SET score = -1 WHERE person_id < 50")
    sandbox.inject("status", code=429, retry_after="86400", times=1)
    with pytest.raises(SyncFailed, match="stopped: run deadline reached while waiting 60s") as exc:
        run_sync(cfg, con=con)
    res = exc.value.result
    assert res.status == "stopped" and "50 rows left pending for the next run" in str(res.error)
    (status,) = con.execute("SELECT status FROM outflow_sync.sync_runs ORDER BY started_at DESC LIMIT 1").fetchone()
    assert status == "stopped"
    again = run_sync(cfg, con=con)
    assert (again.changed, again.acked) == (50, 50)
