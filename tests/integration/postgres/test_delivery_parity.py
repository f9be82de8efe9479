"""Syncs on PostgreSQL deliver what they deliver on DuckDB: on copies of the parity builds of the demo
(conftest.py; copies, because models such as int_trigger__deliveries read the run log, and the parity suite
compares them), the example audience and trigger syncs run from the real dbt activation models, on each engine,
to a webhook sandbox of their own; the sandboxes end up holding the same contacts and the same trigger events."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from activations.config import SyncConfig, load_sync
from activations.engine import run_sync
from activations.sandboxes.testing import make_secret
from activations.sandboxes.webhook import WebhookSandbox
from tests.demo_builds import Builds
from tests.warehouse_fixtures import fresh_database

pytestmark = pytest.mark.postgres

EXAMPLES = Path(__file__).resolve().parents[3] / "activations" / "examples"
SECRET_ENV = "OUTFLOW_TEST_WEBHOOK_SECRET"


def _cfg(name: str, url: str, tmp_path: Path) -> SyncConfig:
    text = (EXAMPLES / f"{name}.yml").read_text().replace("http://127.0.0.1:8790", url)
    text = text.replace("secret_env: OUTFLOW_WEBHOOK_SECRET", f"secret_env: {SECRET_ENV}")
    path = tmp_path / f"{name}.yml"
    path.write_text(text.replace("rate_limit: {requests: 20, per_seconds: 1}", "rate_limit: {requests: 500}"))
    return load_sync(path)


def _deliver(warehouse: Path | str, tmp_path: Path, secret: str) -> dict[str, Any]:
    with WebhookSandbox(secret) as sb:
        audience = _cfg("hot_leads_webhook", sb.url, tmp_path)
        trigger = _cfg("cart_abandoned_webhook", sb.url, tmp_path)
        res, res_t = run_sync(audience, warehouse=warehouse), run_sync(trigger, warehouse=warehouse)
        again = [run_sync(c, warehouse=warehouse).to_send for c in (audience, trigger)]
        events = {m["key"]: m for m in sb.messages("events")}
        return {
            "contacts": sb.records("contacts"),
            "events": {k: m.get("fields") for k, m in events.items()},
            "counts": [(r.added, r.invalid, r.blocked, r.acked, r.rejected) for r in (res, res_t)],
            "again": again,
        }


def test_syncs_deliver_the_same_rows_on_both_engines(
    builds: Builds, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = make_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    (tmp_path / "duckdb").mkdir()
    (tmp_path / "postgres").mkdir()
    duck_copy = tmp_path / "duckdb" / "outflow.duckdb"  # the default file name: catalog "outflow"
    for src in builds.warehouse.parent.glob(builds.warehouse.name + "*"):  # the file and its WAL
        shutil.copy(src, duck_copy.parent / src.name)
    pg_copy = fresh_database(postgres_url, template=builds.pg_url.rsplit("/", 1)[1])
    duck = _deliver(duck_copy, tmp_path / "duckdb", secret)
    pg = _deliver(pg_copy, tmp_path / "postgres", secret)
    assert len(duck["contacts"]) > 10 and len(duck["events"]) > 0  # real audiences, really sent
    assert pg["counts"] == duck["counts"]
    assert pg["contacts"] == duck["contacts"]  # same keys, same field values
    assert pg["events"] == duck["events"]
    assert pg["again"] == duck["again"] == [0, 0]  # the state says everything is delivered, on both
