"""The gate end to end with the real sync engine and its webhook sandbox on 127.0.0.1.

- Dagster: the GX suite of an activation model runs as asset checks; a failed blocking check stops the
  sync asset downstream in the same in-process run, and the sandbox receives nothing.
- Engine: ``run_sync`` runs ``data_quality.gate.preflight`` itself and refuses the sync (every path).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from activations.engine import SyncFailed, run_sync
from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from orchestration.defs.activation_syncs import build_sync_asset
from orchestration.defs.quality import build_defs, quality_checks_for
from orchestration.resources import WarehouseResource
from outflow.warehouse import connect
from tests.integration.quality.conftest import SECRET_ENV

MODEL = dg.AssetKey(["sync_email_newsletter"])
SYNC = dg.AssetKey(["activations", "newsletter_webhook"])


@pytest.fixture
def env(quality_where: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fixture warehouse on each target (a DuckDB file, a PostgreSQL URL), as the settings name it."""
    if "://" not in quality_where:
        monkeypatch.setenv("OUTFLOW_WAREHOUSE", quality_where)
    monkeypatch.setenv("OUTFLOW_AS_OF", "2026-06-01T12:00:00")
    monkeypatch.delenv("OUTFLOW_QUALITY_CONFIG", raising=False)
    return quality_where


def _sync_cfg(sandbox: WebhookSandbox, tmp_path: Path):
    d = sync_dict(
        sandbox.url,
        name="newsletter_webhook",
        source="sync_email_newsletter",
        secret_env=SECRET_ENV,
        fields={"email": "email", "first_name": "firstName"},
    )
    return write_sync(tmp_path / "syncs", d)


@dg.asset(key=MODEL)
def sync_email_newsletter(warehouse: WarehouseResource) -> None:
    """Stand-in for the dbt activation model (same key): rebuilt from the profiles."""
    with warehouse.connect() as con, con.transaction():
        con.execute("drop table if exists main.sync_email_newsletter")
        con.execute(
            "create table main.sync_email_newsletter as select person_id, email, first_name from main.dim_profiles"
        )


def _run(env: str, sandbox: WebhookSandbox, tmp_path: Path, *extra) -> dg.ExecuteInProcessResult:
    assets = [sync_email_newsletter, build_sync_asset(_sync_cfg(sandbox, tmp_path))]
    return dg.materialize(
        [*assets, quality_checks_for("sync_email_newsletter"), *extra],
        resources={"warehouse": WarehouseResource(path=env)},
        raise_on_error=False,
    )


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    evals = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    assert len(evals) == 1, [e.check_name for e in result.get_asset_check_evaluations()]
    return evals[0]


def _materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {m.asset_key for m in result.get_asset_materialization_events()}


def test_clean_model_passes_its_checks_and_the_sync_delivers(env: str, sandbox: WebhookSandbox, tmp_path: Path) -> None:
    result = _run(env, sandbox, tmp_path)
    assert result.success
    assert _check(result, "email_valid").passed and _check(result, "consent").passed
    assert SYNC in _materialized(result)
    assert len(sandbox.records("contacts")) == 40


def test_failed_blocking_check_stops_the_sync_and_nothing_reaches_the_sandbox(
    env: str, sandbox: WebhookSandbox, tmp_path: Path
) -> None:
    with connect(env) as con:  # broken upstream data: an invalid email on one profile
        con.execute("update main.dim_profiles set email = 'person7.example.com' where person_id = 'p7'")
    result = _run(env, sandbox, tmp_path)
    check = _check(result, "email_valid")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    md = check.metadata  # what the UI shows
    assert md["failed_count"].value == 1 and md["row_count"].value == 40
    assert md["severity"].value == "blocking"
    assert md["failed_rows_sample"].value[0]["email"] == "person7.example.com"
    assert MODEL in _materialized(result) and SYNC not in _materialized(result)
    assert sandbox.records("contacts") == {} and sandbox.stats.get("batches_accepted", 0) == 0


def test_consent_violation_stops_the_sync(env: str, sandbox: WebhookSandbox, tmp_path: Path) -> None:
    with connect(env) as con:
        con.execute(
            "update main.dim_consent set status = 'revoked' "
            "where identifier_value = 'person3@example.com' and channel = 'email'"
        )
    result = _run(env, sandbox, tmp_path)
    assert not _check(result, "consent").passed
    assert SYNC not in _materialized(result) and sandbox.records("contacts") == {}


def test_warn_check_does_not_block(
    env: str, sandbox: WebhookSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "quality.yml"
    cfg.write_text("severity:\n  sync_email_newsletter:email_valid: warn\n")
    monkeypatch.setenv("OUTFLOW_QUALITY_CONFIG", str(cfg))
    with connect(env) as con:
        con.execute("update main.dim_profiles set email = 'person7.example.com' where person_id = 'p7'")
    result = _run(env, sandbox, tmp_path)
    check = _check(result, "email_valid")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert SYNC in _materialized(result)
    # the engine still sets the malformed row aside itself
    assert len(sandbox.records("contacts")) == 39


def test_raw_blocking_check_stops_everything_downstream(env: str, sandbox: WebhookSandbox, tmp_path: Path) -> None:
    @dg.asset(key=dg.AssetKey(["raw", "orders"]))
    def raw_orders() -> None:
        """Stand-in loader: loads an order without its (required) amount."""
        with connect(env) as con:
            con.execute("update raw.orders set amount = null where order_id = 'o1'")

    @dg.asset(key=MODEL, deps=[raw_orders.key])
    def model() -> None:
        pass

    result = dg.materialize(
        [raw_orders, model, build_sync_asset(_sync_cfg(sandbox, tmp_path)), quality_checks_for("raw.orders")],
        resources={"warehouse": WarehouseResource(path=env)},
        raise_on_error=False,
    )
    assert not _check(result, "amount_not_null").passed
    assert _check(result, "currency_not_null").passed
    assert _materialized(result) == {dg.AssetKey(["raw", "orders"])}
    assert sandbox.records("contacts") == {}


def test_engine_preflight_refuses_the_sync(env: str, sandbox: WebhookSandbox, tmp_path: Path) -> None:
    cfg = _sync_cfg(sandbox, tmp_path)
    with connect(env) as con:
        con.execute("delete from main.dim_consent where identifier_value = 'person3@example.com'")
    with pytest.raises(SyncFailed, match="consent failed: 1 of 40 rows") as exc:
        run_sync(cfg, warehouse=env)
    assert exc.value.result.status == "refused"
    assert sandbox.records("contacts") == {}
    with connect(env) as con:
        con.execute("delete from main.sync_email_newsletter where email = 'person3@example.com'")
    assert run_sync(cfg, warehouse=env).acked == 39
    assert len(sandbox.records("contacts")) == 39


def test_build_defs_loads_checks_with_their_severity() -> None:
    defs = build_defs()
    specs = {
        (s.asset_key.to_user_string(), s.name): s for checks in defs.asset_checks or [] for s in checks.check_specs
    }
    assert specs[("raw/orders", "amount_not_null")].blocking
    # the raw keys are dbt source tests (they appear as dbt asset checks), not repeated in GX
    assert ("raw/orders", "order_id_unique") not in specs
    assert not specs[("raw/orders", "freshness")].blocking
    assert specs[("dim_profiles", "largest_cluster")].blocking
    assert not specs[("dim_profiles", "share_without_contact_point")].blocking
