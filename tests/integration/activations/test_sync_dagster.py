"""The Dagster layer: one asset per sync YAML, downstream of its dbt model, same run_sync as the CLI; on each
target (the ``any_warehouse`` fixture also names it in the settings, as a user would)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from orchestration.defs.activation_syncs import build_defs
from orchestration.resources import WarehouseResource
from tests.activations_fixtures import WarehouseRef, open_warehouse


@pytest.fixture
def defs_env(tmp_path: Path, sandbox: WebhookSandbox, any_warehouse: WarehouseRef, monkeypatch) -> Path:
    syncs = tmp_path / "syncs"
    write_sync(syncs, sync_dict(sandbox.url))
    monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(syncs))
    return syncs


def test_one_asset_per_sync_downstream_of_its_model(
    defs_env: Path, sandbox: WebhookSandbox, any_warehouse: WarehouseRef
) -> None:
    defs = build_defs()
    key = dg.AssetKey(["activations", "contacts_webhook"])
    by_key = {s.key: s for a in defs.assets for s in a.specs}
    assert key in by_key
    assert [d.asset_key for d in by_key[key].deps] == [dg.AssetKey(["sync_contacts"])]
    assert [s.name for s in defs.schedules] == ["activation_sync_contacts_webhook_schedule"]

    res = {"warehouse": WarehouseResource(path=str(any_warehouse))}
    result = dg.materialize(list(defs.assets), selection=[key], resources=res)
    assert result.success
    md = result.asset_materializations_for_node("activations__contacts_webhook")[0].metadata
    assert md["added"].value == 500 and md["rejected"].value == 0 and md["invalid"].value == 0
    assert md["completion_ratio"].value == 1.0 and md["duration_s"].value > 0
    assert len(sandbox.records("contacts")) == 500
    with open_warehouse(any_warehouse) as con:
        assert con.execute("SELECT status FROM outflow_sync.sync_runs").fetchall() == [("success",)]


def test_failed_sync_fails_its_asset(defs_env: Path, sandbox: WebhookSandbox, any_warehouse: WarehouseRef) -> None:
    sandbox.inject("status", code=401, times=5)
    defs = build_defs()
    res = {"warehouse": WarehouseResource(path=str(any_warehouse))}
    result = dg.materialize(list(defs.assets), raise_on_error=False, resources=res)
    assert not result.success
    failure = result.failure_data_for_node("activations__contacts_webhook")
    assert failure is not None and "refused the credentials" in str(failure.error)
