"""Dagster on PostgreSQL: with OUTFLOW_TARGET=postgres, the real definitions (`build_definitions()`) materialize
the graph from the phone and identity steps through the dbt models to an activation model, the erasure asset
and a sync to its webhook sandbox, all on a copy of the session's PostgreSQL parity build (conftest.py); no
DuckDB file is created.

A person of the audience asks for erasure first: the erasure asset records the request in the ledger on
PostgreSQL, and the sync, downstream of it, never sends that person."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from activations.sandboxes.testing import make_secret
from activations.sandboxes.webhook import WebhookSandbox
from orchestration.defs.identity import COUNTRIES_KEY, EMAILS_KEY, PERSON_MAP_KEY, PHONES_KEY
from orchestration.defs.privacy import ERASURE_KEY
from outflow.warehouse import connect
from tests.demo_builds import Builds
from tests.demo_builds import postgres_env as _postgres_env
from tests.warehouse_fixtures import fresh_database

pytestmark = pytest.mark.postgres

EXAMPLES = Path(__file__).resolve().parents[3] / "activations" / "examples"
SECRET_ENV = "OUTFLOW_TEST_WEBHOOK_SECRET"
SYNC = "hot_leads_webhook"
MODEL = dg.AssetKey(["sync_hot_leads_email"])
SYNC_KEY = dg.AssetKey(["activations", SYNC])


def _sync_dir(tmp_path: Path, url: str) -> Path:
    doc = yaml.safe_load((EXAMPLES / f"{SYNC}.yml").read_text())
    doc["destination"].update(base_url=url, secret_env=SECRET_ENV, rate_limit={"requests": 500})
    folder = tmp_path / "syncs"
    folder.mkdir()
    (folder / f"{SYNC}.yml").write_text(yaml.safe_dump(doc))
    for journey_sync in (EXAMPLES.parent / "syncs").glob("journey_*.yml"):  # the journeys' declared syncs
        shutil.copy(journey_sync, folder)
    return folder


def test_asset_graph_materializes_on_postgres(
    builds: Builds, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # imported before the settings change: the module builds its `defs` (every declared sync) on import
    from orchestration.definitions import build_definitions

    url = fresh_database(postgres_url, template=builds.pg_url.rsplit("/", 1)[1])
    with connect(url=url) as pg:
        audience = pg.execute("select person_id, email from main.sync_hot_leads_email order by person_id").fetchall()
        assert len(audience) > 10
        erased_id, erased_email = audience[0]
        pg.execute(
            "insert into raw.erasure_requests (request_id, identifier_type, identifier, requested_at) "
            "values ('dagster-pg-1', 'email', ?, timestamp '2020-01-01 00:00:00')",
            [erased_email.upper()],  # normalized by the staging model, as a real request would be
        )
    _postgres_env(monkeypatch, url)
    missing = tmp_path / "no-duckdb" / "outflow.duckdb"
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(missing))  # any DuckDB use would create this file
    secret = make_secret()
    monkeypatch.setenv(SECRET_ENV, secret)

    with WebhookSandbox(secret) as sandbox:
        monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(_sync_dir(tmp_path, sandbox.url)))
        defs = build_definitions()
        graph = (
            (dg.AssetSelection.assets(PERSON_MAP_KEY).downstream() & dg.AssetSelection.assets(MODEL).upstream())
            | dg.AssetSelection.assets(PHONES_KEY, COUNTRIES_KEY, EMAILS_KEY, ERASURE_KEY, SYNC_KEY)
        ).required_multi_asset_neighbors()  # every table a selected step writes (the identity step writes several)
        job = dg.define_asset_job("postgres_graph", selection=graph)
        merged = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
        result = merged.resolve_job_def("postgres_graph").execute_in_process()
        contacts = sandbox.records("contacts")

    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    steps = {
        PHONES_KEY,
        EMAILS_KEY,
        PERSON_MAP_KEY,
        dg.AssetKey(["int_identity__identifiers"]),
        dg.AssetKey(["erased_persons"]),
    }
    assert steps | {MODEL, ERASURE_KEY, SYNC_KEY} <= materialized
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)  # dbt tests and the quality suites, on PostgreSQL
    assert not missing.exists()

    with connect(url=url) as pg:
        sent = {r[0] for r in pg.execute("select person_id from main.sync_hot_leads_email").fetchall()}
        ledger = pg.execute(
            "select count(*) from outflow_sync.erasure_ledger where request_id = 'dagster-pg-1'"
        ).fetchone()
        state = pg.execute("select count(*) from outflow_sync.sync_state where sync_name = ?", [SYNC]).fetchone()
    assert erased_id not in sent  # the rebuilt activation model excludes the erased person
    assert ledger == (1,)  # the erasure asset recorded the request on PostgreSQL
    assert set(contacts) == sent and erased_id not in contacts  # the sandbox holds the audience, not the erased
    assert state == (len(sent),)
