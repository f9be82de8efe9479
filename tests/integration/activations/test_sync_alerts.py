"""Alerts on failed syncs and rejected rows: the Dagster sensors, evaluated on real in-process runs against the
webhook sandbox, post one line to OUTFLOW_ALERT_WEBHOOK_URL (a receiver on 127.0.0.1 here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from orchestration.defs.activation_syncs import build_defs
from orchestration.defs.alerts import run_failure_alert, sync_check_alert
from orchestration.resources import WarehouseResource
from tests.activations_fixtures import WarehouseRef

KEY = dg.AssetKey(["activations", "contacts_webhook"])


@pytest.fixture
def received(monkeypatch) -> Iterator[list[dict]]:
    bodies: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OUTFLOW_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    yield bodies
    server.shutdown()


@pytest.fixture
def syncs(tmp_path: Path, sandbox: WebhookSandbox, any_warehouse: WarehouseRef, monkeypatch) -> dg.Definitions:
    write_sync(tmp_path / "syncs", sync_dict(sandbox.url))
    monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(tmp_path / "syncs"))
    return build_defs()  # the warehouse: the settings any_warehouse set


def _run(defs: dg.Definitions, warehouse: WarehouseRef, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    resources = {"warehouse": WarehouseResource(path=str(warehouse))}
    return dg.materialize(list(defs.assets), selection=[KEY], resources=resources, instance=instance,
                          raise_on_error=False)  # fmt: skip


def _context(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType):
    (entry,) = instance.all_logs(result.run_id, of_type=kind)
    return dg.build_run_status_sensor_context(
        sensor_name="alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=entry.dagster_event,
    )


def test_rejected_rows_in_a_successful_run_are_alerted(syncs, sandbox, any_warehouse, received) -> None:
    sandbox.inject("partial", keys=["3"], message="firstName: too long")
    with dg.instance_for_test() as instance:
        result = _run(syncs, any_warehouse, instance)
        assert result.success
        sync_check_alert(_context(instance, result, dg.DagsterEventType.RUN_SUCCESS))
    ((body),) = received
    assert body["text"].startswith("Outflow: activations/contacts_webhook: check rejected_rows failed")
    assert "outflow sync rejected contacts_webhook" in body["text"]


def test_a_clean_run_sends_no_alert(syncs, any_warehouse, received) -> None:
    with dg.instance_for_test() as instance:
        result = _run(syncs, any_warehouse, instance)
        sync_check_alert(_context(instance, result, dg.DagsterEventType.RUN_SUCCESS))
    assert received == []


def test_a_failed_sync_is_alerted(syncs, sandbox, any_warehouse, received) -> None:
    sandbox.inject("status", code=401, times=5)
    with dg.instance_for_test() as instance:
        result = _run(syncs, any_warehouse, instance)
        assert not result.success
        run_failure_alert(_context(instance, result, dg.DagsterEventType.RUN_FAILURE).for_run_failure())
    ((body),) = received
    assert body["text"] == "Outflow: sync contacts_webhook failed"
