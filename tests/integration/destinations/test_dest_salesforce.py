"""Salesforce sObject Collections upsert over real HTTP to its sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activations.destinations.salesforce import SalesforceDestination, soql_literal
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
    opts = {"external_id_field": "Outflow_Id__c", **kw.pop("options", {})}
    d = vendor_sync_dict(
        "salesforce",
        sb.url,
        primary_key="person_id",
        mode=mode,
        fields=fields,
        options=opts,
        obj=kw.pop("obj", "Contact"),
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
    assert body["path"] == "/services/data/v66.0/composite/sobjects/Contact/Outflow_Id__c"
    assert body["body"]["allOrNone"] is False and body["body"]["records"][0]["attributes"] == {"type": "Contact"}
    con.execute("UPDATE main.sync_contacts SET score = 99 WHERE person_id < 5")
    res = run_sync(cfg, con=con)
    assert (res.changed, res.acked, res.requests) == (5, 5, 1)
    assert _held(sb) == _model(con)


def test_per_record_failures(tmp_path: Path, sb: SalesforceSandbox, con) -> None:
    sb.inject("partial", keys=["7", "150"], message="Lead score must be positive")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 198, 2)
    (msg,) = con.execute("SELECT last_error FROM outflow_sync.sync_rejected_rows WHERE key = '7'").fetchone()
    assert msg == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Lead score must be positive"
    bad = {**FIELDS, "note": "Nope__c"}
    with pytest.raises(SyncFailed, match=r"every row sent \(200\) was rejected") as exc:  # the run fails
        run_sync(_cfg(tmp_path, sb, name="sf_bad", fields=bad), con=con)
    assert exc.value.result.rejected == 200
    (msg,) = con.execute(
        "SELECT last_error FROM outflow_sync.sync_rejected_rows WHERE sync_name = 'sf_bad' LIMIT 1"
    ).fetchone()
    assert msg.startswith("INVALID_FIELD: No such column 'Nope__c'")


def test_request_limit_exceeded_is_retried_not_auth(tmp_path: Path, token: str, con) -> None:
    with SalesforceSandbox(token=TOKEN, rate_limit=(1, 0.3)) as sb:
        opts = {"allocation_window_seconds": 0}  # no pacing: the limit is hit and retried
        res = run_sync(_cfg(tmp_path, sb, batch_size=50, options=opts), con=con)  # 4 calls, 1 allowed per 0.3 s
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


def test_mirror_delete_looks_up_ids_then_deletes(tmp_path: Path, token: str, con) -> None:
    with SalesforceSandbox(token=TOKEN, fields={"Email", "FirstName", "Lead_Score__c"}, query_page_size=3) as sb:
        cfg = _cfg(tmp_path, sb, mode="mirror", options={"on_remove": "delete"})
        assert run_sync(cfg, con=con).acked == 200
        sb.delete_out_of_band("Contact", "193")  # a Salesforce user deleted it already: ENTITY_IS_DELETED
        sb.inject("partial", keys=["196"], message="record is referenced by an open Case")
        con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 190")
        res = run_sync(cfg, con=con)
        assert (res.status, res.removed, res.acked, res.rejected) == ("partial", 10, 9, 1)
        held = sb.records("Contact")
        assert len(held) == 190 + 1 and "196" in held and "190" not in held  # 196 refused, still there
        (msg,) = con.execute("SELECT last_error FROM outflow_sync.sync_rejected_rows WHERE key = '196'").fetchone()
        assert msg == "DELETE_FAILED: record is referenced by an open Case"
        queries = sb.recorded("GET", "/services/data/v66.0/query")
        soql = queries[0]["query"]["q"][0]
        assert soql.startswith("SELECT Id, Outflow_Id__c FROM Contact WHERE Outflow_Id__c IN ('190','191',")
        assert len(queries) == 3  # 9 live records, 3 per page: nextRecordsUrl followed twice
        (delete,) = sb.recorded("DELETE")
        assert delete["path"] == "/services/data/v66.0/composite/sobjects"
        assert delete["query"]["allOrNone"] == ["false"] and len(delete["query"]["ids"][0].split(",")) == 9
        sb.faults.partial_keys.clear()
        res = run_sync(cfg, con=con)  # the refused removal is retried next run
        assert (res.removed, res.acked, res.rejected) == (1, 1, 0) and len(sb.records("Contact")) == 190
        con.execute("INSERT INTO main.sync_contacts VALUES (191, 'back@example.com', 'back', 5, 'x')")
        assert run_sync(cfg, con=con).acked == 1  # a person who comes back gets a new record
        assert sb.records("Contact")["191"]["Email"] == "back@example.com"


def test_mirror_clear_nulls_fields_and_keeps_record(tmp_path: Path, sb: SalesforceSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb, mode="mirror", options={"on_remove": "clear", "clear_fields": "Lead_Score__c"})
    assert run_sync(cfg, con=con).acked == 200
    con.execute("DELETE FROM main.sync_contacts WHERE person_id IN (3, 4)")
    res = run_sync(cfg, con=con)
    assert (res.removed, res.acked) == (2, 2)
    held = sb.records("Contact")
    assert len(held) == 200 and held["3"]["Lead_Score__c"] is None and held["3"]["Email"] == "user3@example.com"
    (patch,) = sb.recorded("PATCH", "/services/data/v66.0/composite/sobjects")[-1:]
    assert patch["path"] == "/services/data/v66.0/composite/sobjects" and patch["body"]["allOrNone"] is False
    assert {tuple(sorted(r)) for r in patch["body"]["records"]} == {("Lead_Score__c", "attributes", "id")}
    con.execute("INSERT INTO main.sync_contacts VALUES (3, 'user3@example.com', 'name3', 21, 'x')")
    run_sync(cfg, con=con)  # back in the model: the same record is filled in again
    assert sb.records("Contact")["3"]["Lead_Score__c"] == 21 and len(sb.records("Contact")) == 200


def test_mirror_removal_retries_request_limit(tmp_path: Path, token: str, con) -> None:
    with SalesforceSandbox(token=TOKEN, rate_limit=(2, 0.4)) as sb:
        opts = {"on_remove": "delete", "allocation_window_seconds": 0}
        cfg = _cfg(tmp_path, sb, mode="mirror", options=opts, batch_size=100)
        assert run_sync(cfg, con=con).status == "success"
        con.execute("DELETE FROM main.sync_contacts WHERE person_id < 150")
        res = run_sync(cfg, con=con, force=True)  # 75% of the records: past the circuit breaker on purpose
        assert res.status == "success" and res.removed == 150 and sb.stats["rate_limited"] >= 1
        assert len(sb.records("Contact")) == 50


def test_modes_and_options_refused_clearly(tmp_path: Path, sb: SalesforceSandbox, con) -> None:
    with pytest.raises(OutflowError, match="options.on_remove: mirror mode must say"):
        run_sync(_cfg(tmp_path, sb, mode="mirror"), con=con)
    with pytest.raises(OutflowError, match="mode: the Salesforce destination upserts"):
        run_sync(_cfg(tmp_path, sb, mode="update"), con=con)
    opts = {"on_remove": "clear", "clear_fields": "Email, Outflow_Id__c"}
    with pytest.raises(OutflowError, match="clear_fields: name mapped fields other than the external id"):
        run_sync(_cfg(tmp_path, sb, mode="mirror", options=opts), con=con)
    with pytest.raises(OutflowError, match="options.api_version: '62' is not like v62.0"):
        run_sync(_cfg(tmp_path, sb, options={"api_version": "62"}), con=con)
    with pytest.raises(OutflowError, match="is not a Salesforce API name"):
        run_sync(_cfg(tmp_path, sb, obj="Contact; DROP"), con=con)


def test_soql_literals_escaped() -> None:
    assert soql_literal("O'Brien\\x") == "'O\\'Brien\\\\x'"


class _RacingSandbox(SalesforceSandbox):
    """A Salesforce user deletes one record between our look-up and our delete (it answers the look-up)."""

    def query(self, req):  # type: ignore[no-untyped-def]
        resp = super().query(req)
        if resp.body["records"]:
            self.delete_out_of_band("Contact", str(resp.body["records"][0]["Outflow_Id__c"]))
        return resp


def test_record_deleted_meanwhile_counts_as_removed(tmp_path: Path, token: str, con) -> None:
    with _RacingSandbox(token=TOKEN) as sb:
        cfg = _cfg(tmp_path, sb, mode="mirror", options={"on_remove": "delete"})
        run_sync(cfg, con=con)
        con.execute("DELETE FROM main.sync_contacts WHERE person_id IN (10, 11)")
        res = run_sync(cfg, con=con)
        assert (res.status, res.removed, res.acked, res.rejected) == ("success", 2, 2, 0)
        assert sb.stats["rows_refused"] == 1  # the ENTITY_IS_DELETED answer, taken as already removed


def test_sandbox_answers_like_salesforce(token: str) -> None:
    with SalesforceSandbox(token=TOKEN) as sb:
        h = {"authorization": f"Bearer {TOKEN}"}
        base = f"{sb.url}/services/data/v66.0"
        recs = [{"attributes": {"type": "Contact"}, "Ext__c": str(i)} for i in range(3)]
        r = httpx.patch(f"{base}/composite/sobjects/Contact/Ext__c", json={"records": recs}, headers=h)
        assert r.headers["sforce-limit-info"].startswith("api-usage=") and r.json()[0]["created"] is True
        ids = [x["id"] for x in r.json()]
        r = httpx.delete(f"{base}/composite/sobjects?ids={ids[0]},{ids[0]},003000000000000999", headers=h)
        assert [x["success"] for x in r.json()] == [True, False, False]
        assert [x["errors"][0]["statusCode"] for x in r.json()[1:]] == ["ENTITY_IS_DELETED", "NOT_FOUND"]
        r = httpx.delete(f"{base}/composite/sobjects?ids={','.join(['003000000000000001'] * 201)}", headers=h)
        assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
        r = httpx.get(f"{base}/query", params={"q": "SELECT Id FROM Contact"}, headers=h)
        assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_QUERY"
        upd = {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, "id": ids[1], "Ext__c": None},
                                               {"attributes": {"type": "Contact"}, "id": "bad"}]}  # fmt: skip
        r = httpx.patch(f"{base}/composite/sobjects", json=upd, headers=h)
        assert r.json()[0]["success"] and r.json()[1]["errors"][0]["statusCode"] == "MALFORMED_ID"


def test_retired_api_version_refused_before_any_request_and_by_the_sandbox(tmp_path: Path, sb, con) -> None:
    """v30.0 was retired in Summer '25: the sync does not start, and Salesforce (the sandbox) answers 410 Gone."""
    with pytest.raises(OutflowError, match=r"options.api_version: Salesforce Platform API v30.0 is retired"):
        run_sync(_cfg(tmp_path, sb, options={"external_id_field": "Outflow_Id__c", "api_version": "v30.0"}), con=con)
    assert sb.stats["requests"] == 0
    gone = httpx.get(f"{sb.url}/services/data/v30.0/query?q=SELECT+Id+FROM+Contact",
                     headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert gone.status_code == 410


def test_sforce_limit_info_paces_before_request_limit_exceeded(tmp_path: Path, token: str, con) -> None:
    """At 95% of the allocation reported in Sforce-Limit-Info the client paces itself (one request per
    window/limit) instead of running into REQUEST_LIMIT_EXCEEDED."""
    with SalesforceSandbox(token=TOKEN, rate_limit=(1, 0.3)) as sb:
        res = run_sync(_cfg(tmp_path, sb, batch_size=50, options={"allocation_window_seconds": 0.35}), con=con)
        assert res.status == "success" and len(sb.records("Contact")) == 200
        assert sb.stats["rate_limited"] == 0 and res.retries == 0


def test_missing_object_or_field_costs_one_request_not_2n_minus_1(tmp_path: Path, sb: SalesforceSandbox, con) -> None:
    """Salesforce's 404 ``NOT_FOUND`` for an SObject or external id field the org does not have, and
    ``INVALID_FIELD`` on the whole request, are about the request: the sync stops after one request with
    Salesforce's message instead of halving the batch down to single rows."""
    sb.inject("status", code=404, message="The requested resource does not exist", times=1000)
    with pytest.raises(SyncFailed) as err:
        run_sync(_cfg(tmp_path, sb, batch_size=150), con=con)
    res = err.value.result
    assert res.requests == 1 and "The requested resource does not exist" in res.error
    d = SalesforceDestination(_cfg(tmp_path, sb), TOKEN)  # Salesforce's own codes, whatever the status
    bad_field = httpx.Response(400, json=[{"errorCode": "INVALID_FIELD", "message": "No such column 'Foo__c'"}])
    too_many = httpx.Response(400, json=[{"errorCode": "EXCEEDED_ID_LIMIT", "message": "record limit reached"}])
    assert d.refusal_scope(bad_field) == "request" and d.refusal_scope(too_many) == "rows"
