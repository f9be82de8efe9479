"""One history for the CLI and Dagster: `outflow build` (through the real command) records its models and dbt
tests in the Dagster instance the UI reads, on the same asset and check keys as the Dagster definitions, and
shows dbt's per-node progress; `outflow sync run` records a run that sent before it returns, a dry run nothing,
and a history that cannot be written does not fail it; the demo's syncs forget what its throwaway sandboxes
held, so a later run against fresh sandboxes sends everything again."""

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from activations.config import load_syncs, syncs_dir
from activations.engine import run_sync
from activations.sandboxes import SANDBOX_WEBHOOK_SECRET
from activations.sandboxes.testing import make_secret
from activations.sandboxes.webhook import WebhookSandbox
from outflow.cli import app
from outflow.demo import sync_to_sandboxes
from outflow.warehouse import connect


@pytest.fixture
def warehouse(built_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "wh.duckdb"
    with connect(built_warehouse) as src:
        src.execute("checkpoint")  # the copy holds everything (nothing left in the write-ahead log)
    shutil.copy(built_warehouse, copy)
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(copy))
    return copy


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance of the test's own, which the CLI records into."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("OUTFLOW_DAGSTER_HISTORY", "1")
    return tmp_path / "dagster_home"


def test_a_cli_build_is_recorded_on_the_dagster_keys_with_progress(warehouse: Path, home: Path) -> None:
    out = CliRunner().invoke(app, ["build", "--select", "dim_profiles"])
    assert out.exit_code == 0, out.output
    # piped: dbt's own per-node events as plain lines, and the counts
    assert "dbt [1/" in out.stderr and "ok: model dim_profiles" in out.stderr, out.stderr
    assert "0 failed" in out.stderr.splitlines()[-1] and out.stderr.splitlines()[-1].startswith("dbt: ")
    from orchestration.definitions import defs

    graph = defs.get_repository_def().asset_graph
    with dg.DagsterInstance.from_config(str(home)) as instance:
        key = dg.AssetKey(["dim_profiles"])
        assert key in graph.get_all_asset_keys()
        event = instance.get_latest_materialization_event(key)
        assert event is not None and event.asset_materialization.metadata["by"].value == "outflow build"
        checks = [k for k in graph.asset_check_keys if k.asset_key == key]
        recorded = [k for k in checks if instance.event_log_storage.get_asset_check_execution_history(k, limit=1)]
        assert recorded, "no dbt test of dim_profiles was recorded as its Dagster asset check"
        record = instance.event_log_storage.get_asset_check_execution_history(recorded[0], limit=1)[0]
        assert record.status.value == "SUCCEEDED"


@pytest.fixture
def webhook_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, WebhookSandbox]]:
    """A folder holding hot_leads_webhook pointed at a webhook sandbox on 127.0.0.1, and the sandbox."""
    monkeypatch.setenv("OUTFLOW_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET)
    folder = tmp_path / "syncs"
    folder.mkdir()
    with WebhookSandbox(SANDBOX_WEBHOOK_SECRET) as sandbox:
        yaml = (syncs_dir() / "hot_leads_webhook.yml").read_text().replace("http://127.0.0.1:8790", sandbox.url)
        (folder / "hot_leads_webhook.yml").write_text(yaml)
        yield folder, sandbox


SYNC_KEY = dg.AssetKey(["activations", "hot_leads_webhook"])


def test_a_cli_sync_run_is_in_the_dagster_history_when_it_returns(
    warehouse: Path, home: Path, webhook_sync: tuple[Path, WebhookSandbox]
) -> None:
    folder, sandbox = webhook_sync
    dry = CliRunner().invoke(app, ["sync", "run", "hot_leads_webhook", "--dir", str(folder), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert not home.exists(), "a dry run starts no history writer and records nothing"
    wrong = CliRunner(env={"OUTFLOW_WEBHOOK_SECRET": make_secret(os.urandom(24))}).invoke(
        app, ["sync", "run", "hot_leads_webhook", "--dir", str(folder)]
    )
    assert wrong.exit_code == 1 and "failed" in wrong.output, wrong.output  # the sandbox refused its signatures
    assert not home.exists(), "a run that failed hands its writer nothing: stopped, it opened no instance"
    out = CliRunner().invoke(app, ["sync", "run", "hot_leads_webhook", "--dir", str(folder)])
    assert out.exit_code == 0, out.output
    sent = len(sandbox.records("contacts"))
    assert sent > 0
    with connect(warehouse, read_only=True) as con:
        (run_id,) = con.execute("select run_id from outflow_sync.sync_runs where status = 'success'").fetchone()
    with dg.DagsterInstance.from_config(str(home)) as instance:  # written before the command returned
        records = instance.fetch_materializations(SYNC_KEY, limit=10).records
        assert len(records) == 1, "the failed run recorded nothing"
        materialization = records[0].asset_materialization
        assert materialization is not None and materialization.tags == {"outflow/source": "cli"}
        meta = {k: v.value for k, v in materialization.metadata.items()}
        assert meta["by"] == "outflow sync run" and meta["status"] == "success" and meta["run_id"] == run_id
        assert meta["added"] == meta["acked"] == sent and meta["completion_ratio"] == 1.0


def test_a_sync_run_succeeds_when_its_history_cannot_be_written(
    warehouse: Path, webhook_sync: tuple[Path, WebhookSandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder, sandbox = webhook_sync
    not_a_folder = tmp_path / "dagster_home"
    not_a_folder.write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(not_a_folder))
    monkeypatch.setenv("OUTFLOW_DAGSTER_HISTORY", "1")
    out = CliRunner().invoke(app, ["sync", "run", "hot_leads_webhook", "--dir", str(folder)])
    assert out.exit_code == 0, out.output
    assert "sync hot_leads_webhook: success" in out.output
    assert len(sandbox.records("contacts")) > 0
    # one warning, from the writer process (so on the process's own stderr, not the runner's)
    warnings = [line for line in capfd.readouterr().err.splitlines() if "could not record" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING orchestration.history:"), warnings


def test_the_demo_forgets_what_its_sandboxes_held(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ExitStack() as stack:
        results, _ = sync_to_sandboxes(warehouse, stack)
    sent = [r for r in results if r.get("acked")]
    assert sent, results
    with connect(warehouse) as con:
        assert con.execute("select count(*) from outflow_sync.sync_state").fetchone() == (0,)
        assert con.execute("select count(*) from outflow_sync.sync_runs where status = 'success'").fetchone()[0] > 0
    # a fresh sandbox (as `make ui` starts) gets everything on the next run
    webhook = next(c for c in load_syncs() if c.destination.type == "webhook" and c.mode.value != "insert")
    acked = next(r["acked"] for r in results if r["sync"] == webhook.name)
    monkeypatch.setenv(webhook.destination.secret_env, SANDBOX_WEBHOOK_SECRET)
    with WebhookSandbox(SANDBOX_WEBHOOK_SECRET) as sandbox:
        local = webhook.model_copy(
            update={"destination": webhook.destination.model_copy(update={"base_url": sandbox.url})}
        )
        again = run_sync(local, warehouse=warehouse)
    assert again.acked == acked > 0


def test_cli_checks_and_scores_are_recorded_on_the_dagster_keys(warehouse: Path, home: Path, tmp_path: Path) -> None:
    checked = CliRunner().invoke(app, ["check", "raw"])
    assert checked.exit_code == 0, checked.output
    scored = CliRunner().invoke(app, ["score", "all", "--registry", str(tmp_path / "models")])
    assert scored.exit_code == 0, scored.output
    from orchestration.definitions import defs

    graph = defs.get_repository_def().asset_graph
    with dg.DagsterInstance.from_config(str(home)) as instance:
        orders = [k for k in graph.asset_check_keys if k.asset_key == dg.AssetKey(["raw", "orders"])]
        assert orders
        history = instance.event_log_storage.get_asset_check_execution_history
        assert all(history(k, limit=1) for k in orders), "every quality check of raw.orders is recorded"
        for key in (dg.AssetKey(["ml", "lead_score_model"]), dg.AssetKey(["ml", "ml_lead_scores"])):
            assert key in graph.get_all_asset_keys()
            event = instance.get_latest_materialization_event(key)
            assert event is not None and event.asset_materialization.metadata["by"].value == "outflow score"
