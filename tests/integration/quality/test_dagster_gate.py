"""Real in-process Dagster runs: a failed blocking check stops the sync downstream, and nothing
reaches the sandbox.

The sync engine is another part of the project; here a stand-in downstream asset POSTs the activation
model's rows to a local HTTP sandbox on 127.0.0.1, exactly where a sync would deliver them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from orchestration.defs.quality import build_defs, quality_checks_for

MODEL = dg.AssetKey(["sync_email_newsletter"])


@pytest.fixture
def sandbox() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.extend(json.loads(body)["profiles"])
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/profiles", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(quality_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(quality_db))
    monkeypatch.setenv("OUTFLOW_AS_OF", "2026-06-01T12:00:00")
    return quality_db


def _pipeline(url: str) -> list:
    @dg.asset(key=MODEL)
    def sync_email_newsletter() -> None:
        """Stand-in for the dbt activation model: rebuilt from the profiles."""
        from outflow.settings import warehouse_path

        with duckdb.connect(str(warehouse_path())) as con:
            con.execute(
                "create or replace table main.sync_email_newsletter as "
                "select person_id, email, first_name from main.dim_profiles"
            )

    @dg.asset(deps=[MODEL])
    def newsletter_sync() -> dg.MaterializeResult:
        """Stand-in for the sync: pushes the model's rows to the sandbox over HTTP."""
        from outflow.settings import warehouse_path

        with duckdb.connect(str(warehouse_path()), read_only=True) as con:
            rows = con.execute("select person_id, email from main.sync_email_newsletter").fetchall()
        httpx.post(url, json={"profiles": [{"id": p, "email": e} for p, e in rows]}).raise_for_status()
        return dg.MaterializeResult(metadata={"sent": len(rows)})

    return [sync_email_newsletter, newsletter_sync, quality_checks_for("sync_email_newsletter")]


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    evals = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    assert len(evals) == 1
    return evals[0]


def test_clean_model_passes_its_checks_and_the_sync_delivers(env: Path, sandbox) -> None:
    url, received = sandbox
    result = dg.materialize(_pipeline(url), raise_on_error=False)
    assert result.success
    assert _check(result, "email_valid").passed
    assert _check(result, "consent").passed
    assert len(received) == 40
    mats = {m.asset_key for m in result.get_asset_materialization_events()}
    assert dg.AssetKey(["newsletter_sync"]) in mats


def test_failed_blocking_check_stops_the_sync_and_nothing_reaches_the_sandbox(env: Path, sandbox) -> None:
    url, received = sandbox
    with duckdb.connect(str(env)) as con:  # broken upstream data: an invalid email on a profile
        con.execute("update main.dim_profiles set email = 'person7.example.com' where person_id = 'p7'")
    result = dg.materialize(_pipeline(url), raise_on_error=False)
    check = _check(result, "email_valid")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    md = check.metadata
    assert md["failed_count"].value == 1 and md["severity"].value == "blocking"
    assert md["failed_rows_sample"].value[0]["email"] == "person7.example.com"
    assert received == []  # nothing left the warehouse
    mats = {m.asset_key for m in result.get_asset_materialization_events()}
    assert MODEL in mats and dg.AssetKey(["newsletter_sync"]) not in mats


def test_warn_check_does_not_block(env: Path, sandbox) -> None:
    url, received = sandbox
    cfg = env.parent / "quality.yml"
    cfg.write_text("severity:\n  email_valid: warn\n")
    with duckdb.connect(str(env)) as con:
        con.execute("update main.dim_profiles set email = 'person7.example.com' where person_id = 'p7'")
    import os

    os.environ["OUTFLOW_QUALITY_CONFIG"] = str(cfg)
    try:
        result = dg.materialize(_pipeline(url), raise_on_error=False)
    finally:
        del os.environ["OUTFLOW_QUALITY_CONFIG"]
    check = _check(result, "email_valid")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert len(received) == 40


def test_raw_blocking_check_stops_everything_downstream(env: Path, sandbox) -> None:
    url, received = sandbox

    @dg.asset(key=dg.AssetKey(["raw", "orders"]))
    def raw_orders() -> None:
        """Stand-in loader: loads an order without its (required) amount."""
        with duckdb.connect(str(env)) as con:
            con.execute("update raw.orders set amount = null where order_id = 'o1'")

    @dg.asset(key=dg.AssetKey(["dim_profiles"]), deps=[raw_orders.key])
    def dim_profiles() -> None:
        pass

    pipeline = _pipeline(url)

    @dg.asset(key=MODEL, deps=[dim_profiles.key])
    def model_asset() -> None:
        pass

    result = dg.materialize(
        [raw_orders, dim_profiles, model_asset, pipeline[1], quality_checks_for("raw.orders")],
        raise_on_error=False,
    )
    assert not _check(result, "amount_not_null").passed
    assert _check(result, "currency_not_null").passed
    mats = {m.asset_key for m in result.get_asset_materialization_events()}
    assert mats == {dg.AssetKey(["raw", "orders"])}
    assert received == []


def test_build_defs_loads_checks_with_their_severity() -> None:
    defs = build_defs()
    specs = {
        (s.asset_key.to_user_string(), s.name): s
        for checks in defs.asset_checks or []
        for s in checks.check_specs
    }
    assert specs[("raw/orders", "amount_not_null")].blocking
    # the raw keys are dbt source tests (they appear as dbt asset checks), not repeated in GX
    assert ("raw/orders", "order_id_unique") not in specs
    assert not specs[("raw/orders", "freshness")].blocking
    assert specs[("dim_profiles", "largest_cluster")].blocking
    assert not specs[("dim_profiles", "share_without_contact_point")].blocking
