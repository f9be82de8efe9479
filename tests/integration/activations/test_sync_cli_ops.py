"""`outflow sync run` for operators, through the real command and the webhook sandbox on 127.0.0.1: a full
resync re-sends everything after asking (and still minds the circuit breaker), a dry run needs no secret, the
progress is shown as lines when piped, and each run is recorded in the Dagster instance the UI reads."""

from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from outflow.cli import app
from tests.activations_fixtures import SECRET_ENV, WarehouseRef, open_warehouse


@pytest.fixture
def warehouse(any_warehouse: WarehouseRef) -> WarehouseRef:
    """Each test runs on DuckDB and on PostgreSQL (the settings name the warehouse for the command)."""
    return any_warehouse


@pytest.fixture
def syncs(tmp_path: Path, sandbox: WebhookSandbox, warehouse: WarehouseRef) -> list[str]:
    write_sync(tmp_path / "syncs", sync_dict(sandbox.url, batch_size=100))
    return ["--dir", str(tmp_path / "syncs")]


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(app, ["sync", "run", "contacts_webhook", *args], input=input)


def test_full_resync_resends_everything_after_a_confirmation(
    sandbox: WebhookSandbox, warehouse: WarehouseRef, syncs: list[str]
) -> None:
    assert _run(*syncs).exit_code == 0 and len(sandbox.records("contacts")) == 500
    sandbox.state.reset()  # the destination lost what it held; the state says it holds everything
    assert _run(*syncs).exit_code == 0 and sandbox.records("contacts") == {}  # nothing changed: nothing sent
    refused = _run("--full-resync", *syncs, input="n\n")  # not a terminal: --yes is required
    assert refused.exit_code == 1 and "add --yes to confirm" in refused.stderr
    assert sandbox.records("contacts") == {}
    out = _run("--full-resync", "--yes", *syncs)
    assert out.exit_code == 0, out.output
    assert "sends 500 rows (0 new, 500 unchanged sent again, 0 changed, 0 removed)" in out.stdout
    assert len(sandbox.records("contacts")) == 500


def test_full_resync_still_minds_the_circuit_breaker(
    sandbox: WebhookSandbox, warehouse: WarehouseRef, syncs: list[str]
) -> None:
    assert _run(*syncs).exit_code == 0
    with open_warehouse(warehouse) as con:
        con.execute("DELETE FROM main.sync_contacts WHERE person_id < 150")  # 30% removed: over the breaker
    out = _run("--full-resync", "--yes", *syncs)
    assert out.exit_code == 1 and "circuit breaker" in out.stderr and "150 of the 500" in out.stderr
    assert len(sandbox.records("contacts")) == 500  # nothing sent
    forced = _run("--full-resync", "--yes", "--force", *syncs)
    assert forced.exit_code == 0 and len(sandbox.records("contacts")) == 350


def test_a_dry_run_needs_no_secret(sandbox: WebhookSandbox, syncs: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV)
    dry = _run("--dry-run", *syncs)
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing sent" in dry.stdout and sandbox.stats.get("requests", 0) == 0
    real = _run(*syncs)
    assert real.exit_code == 1 and f"{SECRET_ENV} is not set" in real.stderr


def test_progress_lines_when_piped(sandbox: WebhookSandbox, syncs: list[str]) -> None:
    out = _run(*syncs)
    assert out.exit_code == 0
    lines = [line for line in out.stderr.splitlines() if line.startswith("sync contacts_webhook: ")]
    assert lines[0].startswith("sync contacts_webhook: 0/500 rows sent")
    assert lines[-1].startswith("sync contacts_webhook: 500/500 rows sent (0 rejected, 0 retries")
    assert 3 <= len(lines) <= 12  # a tenth of the plan at a time, not a line per batch


def test_a_cli_run_is_recorded_in_the_dagster_instance(
    tmp_path: Path, sandbox: WebhookSandbox, syncs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("OUTFLOW_DAGSTER_HISTORY", "1")
    assert _run("--dry-run", *syncs).exit_code == 0  # a dry run materializes nothing
    assert _run(*syncs).exit_code == 0
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(dg.AssetKey(["activations", "contacts_webhook"]), limit=10).records
        assert len(records) == 1
        meta = records[0].asset_materialization.metadata
        assert meta["acked"].value == 500 and meta["status"].value == "success"
        assert meta["completion_ratio"].value == 1.0


def test_verify_checks_the_destination_when_nothing_is_sent(sandbox: WebhookSandbox, syncs: list[str]) -> None:
    assert _run(*syncs).exit_code == 0
    quiet = _run(*syncs)  # nothing to send: nothing is checked
    assert quiet.exit_code == 0 and "credentials" not in quiet.stdout
    out = _run("--verify", *syncs)
    assert out.exit_code == 0, out.output
    assert "webhook accepted the credentials" in out.stdout and f"POST {sandbox.url}/contacts: HTTP 200" in out.stdout
    sandbox.stop()  # a destination that is gone fails the check, in one line
    gone = _run("--verify", *syncs)
    assert gone.exit_code == 1 and "cannot reach webhook" in gone.stderr
