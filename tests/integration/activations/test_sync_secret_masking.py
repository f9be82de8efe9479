"""A destination whose error bodies echo the credentials: the secret appears in no error, log line, run log
or rejected-row message (webhook sandbox on 127.0.0.1), with the run log on each target."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from outflow.cli import app
from tests.activations_fixtures import WarehouseRef, open_warehouse


def test_secret_echoed_by_the_destination_is_masked_everywhere(
    tmp_path: Path, sandbox: WebhookSandbox, secret: str, any_warehouse: WarehouseRef, caplog: pytest.LogCaptureFixture
) -> None:
    write_sync(tmp_path / "syncs", sync_dict(sandbox.url, destination={"max_retries": 1}))
    sandbox.inject("reject_keys", keys=["42"], message=f"invalid signature for key {secret}")
    base = [
        "sync",
        "run",
        "contacts_webhook",
        "--dir",
        str(tmp_path / "syncs"),
        "--warehouse",
        str(any_warehouse),
        "-v",
    ]
    with caplog.at_level(logging.DEBUG):
        ok = CliRunner().invoke(app, base)
        sandbox.inject("status", code=500, message=f"upstream rejected token {secret}", times=10)
        with open_warehouse(any_warehouse) as con:
            con.execute("UPDATE main.sync_contacts SET score = -5 WHERE person_id < 10")
        failed = CliRunner().invoke(app, base)
    assert ok.exit_code == 0 and failed.exit_code == 1
    assert "upstream rejected token ***" in failed.stderr
    with open_warehouse(any_warehouse) as con:
        stored = [
            *con.execute("SELECT last_error FROM outflow_sync.sync_rejected_rows").fetchall(),
            *con.execute("SELECT message FROM outflow_sync.sync_row_log WHERE message IS NOT NULL").fetchall(),
            *con.execute("SELECT error FROM outflow_sync.sync_runs WHERE error IS NOT NULL").fetchall(),
        ]
    texts = [str(v) for (v,) in stored]
    assert any("invalid signature for key ***" in t for t in texts)
    assert any("upstream rejected token ***" in t for t in texts)
    everything = "\n".join([ok.stdout, ok.stderr, failed.stdout, failed.stderr, *texts, caplog.text])
    assert secret not in everything and secret.removeprefix("whsec_") not in everything
