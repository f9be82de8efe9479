"""Erasure for destinations that received trigger events or files, and an erasure that fails is retried.

Braze and Customer.io received events for a person (``mode: insert``, the only mode they take); the erasure
deletes the user at each vendor (Braze ``/users/delete`` by external id, Customer.io Track API delete), with
the person identifier recorded when the events were sent, after their sync YAMLs are gone. The file export gets
an erasure file. An erasure that cannot be sent (its secret is missing) is logged ``failed``, the command exits
1 in one line, and the next run sends it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from activations.engine import run_sync
from activations.privacy import run_erasure
from activations.sandboxes.testing import VENDOR_PLANS, make_audience, make_triggers, vendor_sync_dict, write_sync
from activations.sandboxes.triggers import BrazeSandbox, CustomerIoSandbox
from outflow.warehouse import connect
from tests.integration.privacy.conftest import cli
from tests.warehouse_fixtures import TARGETS, fresh_database

TOKEN_ENV = "OUTFLOW_TEST_TRIGGER_ERASURE_TOKEN"
CIO_ENV = "OUTFLOW_TEST_TRIGGER_ERASURE_CIO"


def _sync(kind: str, url: str, tmp_path: Path, secret_env: str):  # type: ignore[no-untyped-def]
    plan = VENDOR_PLANS[kind]
    d = vendor_sync_dict(kind, url, name=f"welcome_{kind}", source="trg_welcome", primary_key="trigger_id",
                         mode="insert", fields=plan["fields"], options=plan["options"],
                         secret_env=secret_env)  # fmt: skip
    return write_sync(tmp_path / "syncs", d)


@pytest.fixture(params=TARGETS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """An empty warehouse: a DuckDB file's path, or a fresh PostgreSQL database's URL."""
    if request.param == "duckdb":
        return tmp_path / "wh.duckdb"
    return fresh_database(request.getfixturevalue("postgres_url"))


def test_trigger_vendors_and_files_erase_and_failures_are_retried(
    warehouse: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = connect(warehouse)
    make_triggers(con, rows=10)
    make_audience(con, rows=10)
    con.close()
    exports = tmp_path / "exports"
    exports.mkdir()
    with BrazeSandbox(token="braze-token-0123456789") as braze, CustomerIoSandbox(token="cio-token-0123") as cio:
        monkeypatch.setenv(TOKEN_ENV, "braze-token-0123456789")
        monkeypatch.setenv(CIO_ENV, f"{cio.site_id}:cio-token-0123")
        file_cfg = write_sync(tmp_path / "syncs", {
            "name": "contacts_file", "source": "sync_contacts", "primary_key": "person_id", "mode": "upsert",
            "destination": {"type": "file", "object": "contacts", "base_url": exports.as_uri()},
            "fields": {"email": "email", "person_id": "person_id"}})  # fmt: skip
        for cfg in (_sync("braze", braze.url, tmp_path, TOKEN_ENV), _sync("customerio", cio.url, tmp_path, CIO_ENV),
                    file_cfg):  # fmt: skip
            assert run_sync(cfg, warehouse=warehouse).status == "success"
        assert any(e.get("external_id") == "3" for e in braze.events())
        for f in (tmp_path / "syncs").iterdir():  # the syncs' YAMLs are gone: erasure uses the run log
            f.unlink()

        con = connect(warehouse)  # what dbt would have built: person 3 filed an erasure request
        con.execute("create table main.stg_privacy__erasure_requests as select 'r-3' as request_id, "
                    "'email' as identifier_type, 'user3@example.com' as identifier_value, "
                    "timestamp '2026-10-01' as requested_at")  # fmt: skip
        con.execute("create table main.erased_persons as select '3' as person_id")
        con.close()

        monkeypatch.delenv(CIO_ENV)
        failed = cli("privacy", "erase", "--warehouse", warehouse)
        assert failed.exit_code == 1 and f"environment variable {CIO_ENV} is not set" in failed.output
        assert "Traceback" not in failed.output
        assert braze.deleted_users == {"3"} and not any(e.get("external_id") == "3" for e in braze.events())
        assert cio.deleted_people == set()

        monkeypatch.setenv(CIO_ENV, f"{cio.site_id}:cio-token-0123")
        res = run_erasure(warehouse=warehouse)
        assert res.status == "success" and set(res.by_sync) == {"welcome_customerio"}  # Braze is not sent again
        assert cio.deleted_people == {"3"}
        assert len(braze.recorded("POST", "/users/delete")) == 1

    erasure_files = [f for f in exports.iterdir() if (pl.read_csv(f)["_op"] == "erase").any()]
    assert len(erasure_files) == 1 and pl.read_csv(erasure_files[0])["_key"].to_list() == [3]
    con = connect(warehouse)
    log = con.execute("select sync_name, status from outflow_sync.erasure_log order by logged_at, sync_name").fetchall()
    con.close()
    assert log == [("contacts_file", "ok"), ("welcome_braze", "ok"), ("welcome_customerio", "failed"),
                   ("welcome_customerio", "ok")]  # fmt: skip
