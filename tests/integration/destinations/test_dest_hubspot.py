"""HubSpot CRM contacts over real HTTP to its sandbox: batch upsert, 207 multi-status, list membership."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activations.engine import SyncFailed, run_sync
from activations.sandboxes.hubspot import HubSpotSandbox
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from outflow.errors import OutflowError
from tests.integration.destinations.conftest import TOKEN, need_spec

LIST = "123"
FIELDS = {"email": "email", "first_name": "firstname", "score": "lead_score"}


@pytest.fixture
def sb(token: str) -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(token=TOKEN) as s:
        yield s


def _cfg(tmp_path: Path, sb: HubSpotSandbox, options=None, **kw):
    opts = {"list_id": LIST} if options is None else options
    d = vendor_sync_dict("hubspot", sb.url, options=opts, fields=kw.pop("fields", FIELDS), **kw)
    return write_sync(tmp_path / "syncs", d)


def _model(con) -> dict[str, tuple]:
    rows = con.execute("SELECT email, first_name, score FROM main.sync_contacts").fetchall()
    return {r[0]: (r[1], str(r[2])) for r in rows}


def _members(sb: HubSpotSandbox) -> dict[str, tuple]:
    return {e: (p["firstname"], p["lead_score"]) for e, p in sb.list_members(LIST).items()}


def test_full_incremental_and_mirror_removal(tmp_path: Path, sb: HubSpotSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=con)
    # batches of 100 (HubSpot's limit): 2 upserts + 2 membership adds
    assert (res.status, res.acked, res.requests) == ("success", 200, 4)
    assert _members(sb) == _model(con)
    first = sb.recorded("POST", "/crm/objects/2026-09/contacts/batch/upsert")[0]["body"]["inputs"][0]
    props = {"email": "user0@example.com", "firstname": "name0", "lead_score": "0"}
    assert first == {"idProperty": "email", "id": "user0@example.com", "properties": props}
    con.execute("UPDATE main.sync_contacts SET first_name = 'changed' WHERE person_id < 10")
    con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 190")
    res = run_sync(cfg, con=con)
    assert (res.changed, res.removed, res.acked) == (10, 10, 20)
    assert _members(sb) == _model(con)
    assert len(sb.store()["contacts"]) == 200  # removal leaves the list, never deletes the CRM record
    assert run_sync(cfg, con=con).requests == 0


def test_207_multi_status_rejects_only_failed_inputs(tmp_path: Path, sb: HubSpotSandbox, con) -> None:
    sb.inject("partial", keys=["user5@example.com", "user120@example.com"], message="lead_score: not a number")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.status, res.acked, res.rejected, res.requests) == ("partial", 198, 2, 4)  # no resend needed
    rej = dict(con.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchall())
    assert "VALIDATION_ERROR: lead_score: not a number" in rej["user5@example.com"]
    assert len(_members(sb)) == 198 and "user5@example.com" not in _members(sb)


def test_custom_id_property_upsert_only(tmp_path: Path, sb: HubSpotSandbox, con) -> None:
    fields = {"person_id": "outflow_id", "email": "email", "first_name": "firstname"}
    cfg = _cfg(tmp_path, sb, options={"id_property": "outflow_id"}, primary_key="person_id", mode="upsert",
               fields=fields)  # fmt: skip
    assert run_sync(cfg, con=con).acked == 200
    assert {p["outflow_id"] for p in sb.store()["contacts"].values()} == {str(i) for i in range(200)}
    assert not sb.recorded("PUT")  # no list named: no membership calls


def test_429_retried(tmp_path: Path, sb: HubSpotSandbox, con) -> None:
    sb.inject("status", code=429, retry_after="0.2", times=2)
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert res.status == "success" and res.throttled == 2
    assert _members(sb) == _model(con)


def test_auth_failure_and_config_errors(tmp_path: Path, sb: HubSpotSandbox, con, monkeypatch) -> None:
    with pytest.raises(OutflowError, match="destination.options.list_id: mirror mode"):
        run_sync(_cfg(tmp_path, sb, options={}), con=con)
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "pat-na1-wrong")
    with pytest.raises(SyncFailed, match="refused the credentials") as exc:
        run_sync(_cfg(tmp_path, sb), con=con)
    assert exc.value.result.requests == 1 and "pat-na1-wrong" not in str(exc.value)


def _post(sb: HubSpotSandbox, path: str, body, method: str = "POST") -> httpx.Response:
    return httpx.request(method, sb.url + path, json=body, headers={"authorization": f"Bearer {TOKEN}"})


def test_sandbox_checks_bodies_by_hubspot_schemas(sb: HubSpotSandbox) -> None:
    up = "/crm/v3/objects/contacts/batch/upsert"
    r = _post(sb, up, {"inputs": [{"idProperty": "email", "id": "a@example.com", "properties": {"n": 5}}]})
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    r = _post(sb, up, {"inputs": [{"idProperty": "email", "id": "a@example.com"}]})  # properties required
    assert r.status_code == 400
    r = _post(
        sb, up, {"inputs": [{"idProperty": "email", "id": "a@example.com", "properties": {"email": "a@example.com"}}]}
    )
    body = r.json()
    assert r.status_code == 200 and {"startedAt", "completedAt", "status"} <= set(body)
    assert {"createdAt", "updatedAt", "archived", "new"} <= set(body["results"][0])
    rid = body["results"][0]["id"]
    r = _post(sb, up, {"inputs": [{"id": "999999", "properties": {"firstname": "x"}}]})  # by record id: unknown
    assert r.status_code == 207 and r.json()["errors"][0]["context"]["id"] == ["999999"]
    read = {"idProperty": "email", "properties": ["email"], "inputs": [{"id": "a@example.com"}]}
    assert _post(sb, "/crm/v3/objects/contacts/batch/read", read).status_code == 400  # propertiesWithHistory
    r = _post(sb, f"/crm/v3/lists/{LIST}/memberships/add", [rid, "424242"], "PUT")
    assert r.json() == {"recordsIdsAdded": [rid], "recordIdsRemoved": [], "recordIdsMissing": ["424242"]}


def test_sandbox_validates_against_hubspot_spec_when_present(sb: HubSpotSandbox) -> None:
    need_spec("hubspot", "contacts.json", "lists.json")  # HubSpot's documents may not be redistributed
    r = _post(sb, "/crm/v3/objects/contacts/batch/upsert", {"inputs": [{"id": "x", "properties": {"n": 5}}]})
    assert r.status_code == 400 and "inputs.0.properties.n: 5 is not of type 'string'" in r.json()["message"]
    r = _post(sb, f"/crm/v3/lists/{LIST}/memberships/remove", {"ids": ["1"]}, "PUT")
    assert r.status_code == 400 and "is not of type 'array'" in r.json()["message"]


def test_destination_requests_follow_hubspot_dated_spec_when_present(tmp_path: Path, sb: HubSpotSandbox, con) -> None:
    """The destination's upserts, reads and list memberships on the dated API, through a sandbox that validates
    each body against HubSpot's own 2026-09 documents (a local copy: HubSpot does not license them for
    redistribution). A body the documents refuse is answered 400, which fails the sync."""
    need_spec("hubspot", "2026-09/contacts.json", "2026-09/lists.json")
    res = run_sync(_cfg(tmp_path, sb, {"list_id": LIST, "api_version": "2026-09"}), con=con)
    assert res.status == "success" and res.acked == 200
    assert {p["path"] for p in sb.recorded("POST")} >= {"/crm/objects/2026-09/contacts/batch/upsert"}
    r = _post(sb, "/crm/objects/2026-09/contacts/batch/upsert", {"inputs": [{"id": "x", "properties": {"n": 5}}]})
    assert r.status_code == 400 and "inputs.0.properties.n: 5 is not of type 'string'" in r.json()["message"]
    r = _post(sb, f"/crm/lists/2026-09/{LIST}/memberships/add", {"ids": ["1"]}, "PUT")
    assert r.status_code == 400 and "is not of type 'array'" in r.json()["message"]


@pytest.mark.parametrize("shape", ["other_context_key", "no_results"])
def test_207_with_an_unexpected_shape_acknowledges_only_what_hubspot_confirmed(
    shape: str, tmp_path: Path, sb: HubSpotSandbox, con
) -> None:
    """A 207 whose errors name inputs under an undocumented key, or that has no ``results`` at all: every row
    the answer's ``results`` does not carry is rejected (sent again next run), none is recorded as delivered."""
    if shape == "other_context_key":
        sb.error_context_key = "email"
        sb.inject("partial", keys=["user5@example.com"], message="lead_score: not a number")
    else:
        sb.inject("no_results", code=207, message="Multi-status: see errors", times=1)
    res = run_sync(_cfg(tmp_path, sb), con=con)
    state = {k for (k,) in con.execute("SELECT key FROM outflow_sync.sync_state").fetchall()}
    held = set(sb.list_members(LIST))
    assert state <= held  # nothing acknowledged that HubSpot did not confirm and put on the list
    assert shape == "no_results" or "user5@example.com" not in state
    assert res.rejected == (1 if shape == "other_context_key" else 100) and res.acked == 200 - res.rejected


def test_unserved_version_stops_after_one_request(tmp_path: Path, sb: HubSpotSandbox, con) -> None:
    """A 404 (a version HubSpot does not serve, a missing list) is about the request: one call, no halving."""
    res = None
    with pytest.raises(SyncFailed) as err:
        run_sync(_cfg(tmp_path, sb, options={"list_id": "999", "api_version": "2025-09"}), con=con)
    res = err.value.result
    assert res.status == "failed" and "refused the request, not its rows" in res.error
    assert res.requests == 1 and sb.stats["version_retired"] == 1  # 1 request, not 2N-1
    assert con.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone()[0] == 0


def test_retired_version_refused_before_any_request(tmp_path: Path, sb: HubSpotSandbox, con) -> None:
    with pytest.raises(OutflowError, match=r"destination.options.api_version: HubSpot CRM API v1 is retired"):
        run_sync(_cfg(tmp_path, sb, options={"list_id": LIST, "api_version": "v1"}), con=con)
    assert sb.stats["requests"] == 0
    assert httpx.post(f"{sb.url}/crm/v1/objects/contacts/batch/upsert", json={"inputs": []},
                      headers={"authorization": f"Bearer {TOKEN}"}).status_code == 404  # fmt: skip


def test_rate_limit_headers_pace_and_retry_without_retry_after(tmp_path: Path, sb: HubSpotSandbox, con) -> None:
    with HubSpotSandbox(token=TOKEN, rate_limit=(2, 0.4)) as small:
        res = run_sync(_cfg(tmp_path, small, batch_size=20), con=con)
        assert res.status == "success" and res.acked == 200
        answer = httpx.get(
            f"{small.url}/crm/lists/2026-09/{LIST}/memberships", headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert "retry-after" not in answer.headers and answer.headers["x-hubspot-ratelimit-max"] == "2"
        assert small.stats["rate_limited"] <= 2  # paced on X-HubSpot-RateLimit-Remaining, not refused throughout
