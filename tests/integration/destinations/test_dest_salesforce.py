"""Salesforce sObject Collections upsert over real HTTP to its sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.engine import SyncFailed, run_sync
from activations.sandboxes.salesforce import SalesforceSandbox
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from outflow.errors import OutflowError
from tests.integration.destinations.conftest import TOKEN

FIELDS = {"person_id": "Outflow_Id__c", "email": "Email", "first_name": "FirstName", "score": "Lead_Score__c"}


@pytest.fixture
def sb(token: str) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(token=TOKEN, fields={"Email", "FirstName", "Lead_Score__c"}) as s:
        yield s


def _cfg(tmp_path: Path, sb: SalesforceSandbox, **kw):
    mode, fields = kw.pop("mode", "upsert"), kw.pop("fields", FIELDS)
    opts = {"external_id_field": "Outflow_Id__c"}
    d = vendor_sync_dict(
        "salesforce",
        sb.url,
        primary_key="person_id",
        mode=mode,
        fields=fields,
        options=opts,
        obj="Contact",
        **kw,
    )
    return write_sync(tmp_path / "syncs", d)


def _model(con) -> dict[str, tuple]:
    rows = con.execute("SELECT person_id, email, first_name, score FROM main.sync_contacts").fetchall()
    return {str(r[0]): (r[1], r[2], r[3]) for r in rows}


def _held(sb: SalesforceSandbox) -> dict[str, tuple]:
    return {k: (v["Email"], v["FirstName"], v["Lead_Score__c"]) for k, v in sb.records("Contact").items()}


def test_full_and_incremental_upsert(tmp_path: Path, sb: SalesforceSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb, batch_size=500)  # capped at Salesforce's 200 per call
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.requests) == ("success", 200, 1)
    assert _held(sb) == _model(con)
    body = sb.recorded("PATCH")[0]
    assert body["path"] == "/services/data/v62.0/composite/sobjects/Contact/Outflow_Id__c"
    assert body["body"]["allOrNone"] is False and body["body"]["records"][0]["attributes"] == {"type": "Contact"}
    con.execute("UPDATE main.sync_contacts SET score = 99 WHERE person_id < 5")
    res = run_sync(cfg, con=con)
    assert (res.changed, res.acked, res.requests) == (5, 5, 1)
    assert _held(sb) == _model(con)


def test_per_record_failures(tmp_path: Path, sb: SalesforceSandbox, con) -> None:
    sb.inject("partial", keys=["7", "150"], message="Lead score must be positive")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 198, 2)
    (msg,) = con.execute("SELECT last_error FROM outflow.sync_rejected_rows WHERE key = '7'").fetchone()
    assert msg == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Lead score must be positive"
    bad = {**FIELDS, "note": "Nope__c"}
    res = run_sync(_cfg(tmp_path, sb, name="sf_bad", fields=bad), con=con)
    assert res.rejected == 200
    (msg,) = con.execute(
        "SELECT last_error FROM outflow.sync_rejected_rows WHERE sync_name = 'sf_bad' LIMIT 1"
    ).fetchone()
    assert msg.startswith("INVALID_FIELD: No such column 'Nope__c'")


def test_request_limit_exceeded_is_retried_not_auth(tmp_path: Path, token: str, con) -> None:
    with SalesforceSandbox(token=TOKEN, rate_limit=(1, 0.3)) as sb:
        res = run_sync(_cfg(tmp_path, sb, batch_size=50), con=con)  # 4 calls, 1 allowed per 0.3 s
        assert res.status == "success" and res.retries >= 1 and sb.stats["rate_limited"] >= 1
        assert len(sb.records("Contact")) == 200
    with SalesforceSandbox(token=TOKEN) as sb2:
        sb2.inject("status", code=429, retry_after="0.1", times=1)
        assert run_sync(_cfg(tmp_path, sb2, name="sf2"), con=con).throttled == 1


def test_invalid_session_stops(tmp_path: Path, sb: SalesforceSandbox, con, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "00D-wrong-session")
    with pytest.raises(SyncFailed, match="INVALID_SESSION_ID") as exc:
        run_sync(_cfg(tmp_path, sb), con=con)
    assert exc.value.result.requests == 1 and "00D-wrong-session" not in str(exc.value)


def test_mirror_refused_clearly(tmp_path: Path, sb: SalesforceSandbox, con) -> None:
    with pytest.raises(OutflowError, match="upserts by external id"):
        run_sync(_cfg(tmp_path, sb, mode="mirror"), con=con)
