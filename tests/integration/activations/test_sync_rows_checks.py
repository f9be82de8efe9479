"""Rejected and invalid rows in plain sight: the Dagster asset checks of a sync (a real materialize against a
sandbox that rejects rows), completion_ratio counting the rejections, and `outflow sync rejected | log`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from orchestration.defs.activation_syncs import INVALID_CHECK, REJECTED_CHECK, build_defs
from orchestration.resources import WarehouseResource
from tests.activations_fixtures import open_warehouse

OUTFLOW = str(Path(sys.executable).with_name("outflow"))
KEY = dg.AssetKey(["activations", "contacts_webhook"])


@pytest.fixture
def rejecting(tmp_path: Path, sandbox: WebhookSandbox, any_warehouse, monkeypatch) -> Path:
    """The webhook sandbox refuses two rows with a per-row message; 40 of the model's 500 rows have an email
    that is not one (8%, above the 5% default), and the quality gate's email check is off (as a team that only
    wants a warning would set it), so the engine sets them aside itself."""
    with open_warehouse(any_warehouse) as con:  # on DuckDB and PostgreSQL (named by the settings too)
        con.execute("UPDATE main.sync_contacts SET email = 'not-an-email' WHERE person_id >= 460")
    quality = tmp_path / "quality.yml"
    quality.write_text("disabled: [email_valid]\n")
    monkeypatch.setenv("OUTFLOW_QUALITY_CONFIG", str(quality))
    syncs = tmp_path / "syncs"
    write_sync(syncs, sync_dict(sandbox.url))
    monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(syncs))
    sandbox.inject("partial", keys=["3", "250"], message="firstName: too long")
    return syncs


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_rejected_rows_warn_and_an_invalid_share_above_the_threshold_fails(
    rejecting: Path, any_warehouse, sandbox: WebhookSandbox
) -> None:
    defs = build_defs()
    resources = {"warehouse": WarehouseResource(path=str(any_warehouse) if isinstance(any_warehouse, Path) else "")}
    result = dg.materialize(list(defs.assets), selection=[KEY], resources=resources, raise_on_error=False)
    md = result.asset_materializations_for_node("activations__contacts_webhook")[0].metadata
    assert md["acked"].value == 458 and md["rejected"].value == 2 and md["invalid"].value == 40
    assert md["completion_ratio"].value == round(458 / 460, 4)  # the rejected rows count against it

    checks = _checks(result)
    rejected = checks[REJECTED_CHECK]
    assert not rejected.passed and rejected.severity == dg.AssetCheckSeverity.WARN
    assert rejected.metadata["rejected"].value == 2
    invalid = checks[INVALID_CHECK]
    assert not invalid.passed and invalid.severity == dg.AssetCheckSeverity.ERROR
    assert invalid.metadata["invalid_share"].value == 0.08

    # the destination now takes the two rows (retried), and the threshold is the sync's own setting: at 10% the
    # same invalid rows pass
    sandbox.state.faults.partial_keys.clear()
    write_sync(rejecting, sync_dict(sandbox.url, thresholds={"max_invalid_share": 0.1}))
    result = dg.materialize(list(build_defs().assets), selection=[KEY], resources=resources)
    checks = _checks(result)
    assert checks[REJECTED_CHECK].passed and checks[INVALID_CHECK].passed


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OUTFLOW, *args], capture_output=True, text=True, timeout=120, env=os.environ.copy())


def test_the_cli_lists_rejected_and_invalid_rows_and_the_row_log(rejecting: Path) -> None:
    assert _cli("sync", "run", "contacts_webhook").returncode == 0

    out = _cli("sync", "rejected", "contacts_webhook")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()  # piped: tab-separated under a header, whole lines
    assert lines[0].split("\t")[:5] == ["sync_name", "key", "op", "attempts", "message"]
    assert sorted(line.split("\t")[1] for line in lines[1:]) == ["250", "3"]
    assert all("firstName: too long" in line for line in lines[1:])
    assert "40 rows set aside as invalid" in out.stderr

    out = _cli("sync", "rejected", "contacts_webhook", "--invalid", "--output", "json")
    (table,) = json.loads(out.stdout)
    assert len(table["rows"]) == 40 and {r["reason"] for r in table["rows"]} == {"invalid_email:email"}

    out = _cli("sync", "log", "contacts_webhook", "--person", "3", "--output", "json")
    (table,) = json.loads(out.stdout)
    assert [(str(r["key"]), r["status"], r["message"], r["destination"]) for r in table["rows"]] == [
        ("3", "rejected", "firstName: too long", "webhook")
    ]

    out = _cli("sync", "rejected", "contacts_webhok")
    assert out.returncode == 1 and "did you mean 'contacts_webhook'" in out.stderr
    assert "Traceback" not in out.stderr
