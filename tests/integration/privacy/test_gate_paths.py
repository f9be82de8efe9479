"""No path sends a person without consent: the CLI, the Python API (``run_sync``, ``run_syncs``), the Dagster
sync asset, the per-sync job ``activation_sync_*`` and its schedule, each against the webhook sandbox, on each
warehouse target (a DuckDB file, and a database on the real PostgreSQL server named by its URL).

A person with no consent is planted in the activation model (and an erased one). With the default quality
config the engine's own gate refuses the run; with the consent and erasure checks disabled (a misconfigured
suite) the engine's consent/erasure filter still holds both back and sends everyone else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from activations.config import SyncConfig, load_sync
from activations.engine import SyncFailed, run_sync, run_syncs
from activations.privacy import erased_key
from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from orchestration.defs.activation_syncs import build_defs
from orchestration.resources import WarehouseResource
from outflow.cli import app
from outflow.warehouse import connect
from tests.integration.quality.conftest import SECRET_ENV
from tests.warehouse_fixtures import fresh_database

NAME = "newsletter_webhook"
STRANGER = "stranger@example.com"  # no consent at all
GONE = "gone@example.com"  # consented, then asked for erasure (raw.erasure_requests holds it)


@pytest.fixture(params=["duckdb", "postgres"])
def env(
    request: pytest.FixtureRequest, sandbox: WebhookSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The planted warehouse: a DuckDB file's path, or a PostgreSQL database's URL (what ``--warehouse`` takes)."""
    if request.param == "duckdb":
        where = str(request.getfixturevalue("quality_db"))
    else:
        template = request.getfixturevalue("quality_pg_template")
        where = fresh_database(request.getfixturevalue("postgres_url"), template=template)
        monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(tmp_path / "wh.duckdb"))  # reports go beside it, in tmp_path
    with connect(where) as con:
        con.execute(f"insert into main.sync_email_newsletter values ('p900', '{STRANGER}', 'Stranger')")
        con.execute(
            "insert into main.dim_consent values ('email', ?, 'marketing', 'email', 'granted', current_timestamp)",
            [GONE],
        )
        con.execute(f"insert into main.sync_email_newsletter values ('p901', '{GONE}', 'Gone')")
    d = sync_dict(
        sandbox.url, name=NAME, source="sync_email_newsletter", mode="upsert", secret_env=SECRET_ENV,
        fields={"email": "email", "first_name": "firstName"}, schedule="0 * * * *",
    )  # fmt: skip
    write_sync(tmp_path / "syncs", d)
    monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(tmp_path / "syncs"))
    if request.param == "duckdb":
        monkeypatch.setenv("OUTFLOW_WAREHOUSE", where)
    monkeypatch.setenv("OUTFLOW_AS_OF", "2026-06-01T12:00:00")
    monkeypatch.delenv("OUTFLOW_QUALITY_CONFIG", raising=False)
    return where


def _cfg(tmp_path: Path) -> SyncConfig:
    return load_sync(tmp_path / "syncs" / f"{NAME}.yml")


def _cli(env: str, tmp_path: Path) -> bool:
    out = CliRunner().invoke(app, ["sync", "run", NAME, "--dir", str(tmp_path / "syncs"), "--warehouse", env])
    return out.exit_code == 0


def _api(env: str, tmp_path: Path) -> bool:
    try:
        run_sync(_cfg(tmp_path), warehouse=env)
    except SyncFailed:
        return False
    return True


def _api_many(env: str, tmp_path: Path) -> bool:
    (out,) = run_syncs([_cfg(tmp_path)], warehouse=env)
    return not isinstance(out, Exception)


def _defs(env: str) -> dg.Definitions:
    return dg.Definitions.merge(build_defs(), dg.Definitions(resources={"warehouse": WarehouseResource(path=env)}))


def _asset(env: str, tmp_path: Path) -> bool:
    defs = _defs(env)
    return dg.materialize(list(defs.assets), resources={"warehouse": WarehouseResource(path=env)},
                          raise_on_error=False).success  # fmt: skip


def _job(env: str, tmp_path: Path) -> bool:
    job = _defs(env).resolve_job_def(f"activation_sync_{NAME}")
    return job.execute_in_process(raise_on_error=False).success


def _schedule(env: str, tmp_path: Path) -> bool:
    defs = _defs(env)
    schedule = defs.resolve_schedule_def(f"activation_sync_{NAME}_schedule")
    (request,) = schedule.evaluate_tick(dg.build_schedule_context()).run_requests or []
    job = defs.resolve_job_def(schedule.job_name)
    return job.execute_in_process(run_config=request.run_config, tags=request.tags, raise_on_error=False).success


PATHS: dict[str, Callable[[str, Path], bool]] = {
    "cli": _cli, "run_sync": _api, "run_syncs": _api_many, "dagster_asset": _asset, "per_sync_job": _job,
    "schedule": _schedule,
}  # fmt: skip


@pytest.mark.parametrize("path", list(PATHS))
def test_the_gate_refuses_on_every_path(path: str, env: str, sandbox: WebhookSandbox, tmp_path: Path) -> None:
    assert PATHS[path](env, tmp_path) is False
    assert sandbox.records("contacts") == {}
    with connect(env, read_only=True) as con:
        (status, error) = con.execute("select status, error from outflow_sync.sync_runs").fetchone()  # type: ignore[misc]
    assert status == "refused" and "consent failed: 1 of 42 rows" in error and "no_erased_person failed" in error


@pytest.mark.parametrize("path", list(PATHS))
def test_a_misconfigured_suite_still_sends_nobody_without_consent(
    path: str, env: str, sandbox: WebhookSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lax = tmp_path / "quality.yml"
    lax.write_text("disabled: [consent, no_erased_person]\nconsent_table: null\nerasure_table: null\n")
    monkeypatch.setenv("OUTFLOW_QUALITY_CONFIG", str(lax))
    assert PATHS[path](env, tmp_path) is True
    sent = {r["email"] for r in sandbox.records("contacts").values()}
    assert len(sent) == 40 and STRANGER not in sent and GONE not in sent
    with connect(env, read_only=True) as con:
        held = con.execute("select key, reason from outflow_sync.sync_invalid_rows order by key").fetchall()
    assert held == sorted([("p900", "no_consent"), (erased_key(NAME, "p901"), "erased")])
