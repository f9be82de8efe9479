"""Google Customer Match through the Data Manager API over real HTTP to its sandbox: ingest, request
diagnostics polled to the end, the user list's size read back, removal, encodings, and Google's fail-fast
refusals mapped back to rows."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activations.destinations.google_data_manager import GoogleDataManagerDestination
from activations.engine import SyncFailed, run_sync
from activations.hashing import sha256
from activations.sandboxes.google_data_manager import GoogleDataManagerSandbox
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from tests.integration.destinations.conftest import TOKEN

FIELDS = {"email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name",
          "country": "country_code", "zip": "postal_code"}  # fmt: skip


@pytest.fixture
def sb(token: str) -> Iterator[GoogleDataManagerSandbox]:
    with GoogleDataManagerSandbox(token=TOKEN) as s:
        yield s


@pytest.fixture
def people(con):
    con.execute(
        """CREATE OR REPLACE TABLE main.sync_people AS SELECT
           CASE WHEN i % 2 = 0 THEN 'First.Last' || i || '+promo@Gmail.com' ELSE 'user' || i || '@example.com' END
             AS email,
           '(212) 565-' || lpad(i::VARCHAR, 4, '0') AS phone, 'Mary' AS first_name, 'Smith' AS last_name,
           'United States' AS country, '10001' AS zip FROM range(30) r(i)"""
    )
    return con


def _cfg(tmp_path: Path, sb: GoogleDataManagerSandbox, options: dict | None = None, **kw):
    opts = {"account_id": "123-456-7890", "user_list_id": "555", "default_region": "US",
            "job_poll_interval_seconds": 0.05, "job_poll_max_interval_seconds": 0.2, **(options or {})}  # fmt: skip
    d = vendor_sync_dict("google_data_manager", sb.url, source="sync_people", fields=FIELDS, options=opts, **kw)
    return write_sync(tmp_path / "syncs", d)


def test_ingest_diagnostics_size_and_removal(tmp_path: Path, sb: GoogleDataManagerSandbox, people, caplog) -> None:
    cfg = _cfg(tmp_path, sb)
    with caplog.at_level(logging.INFO):
        res = run_sync(cfg, con=people)
    assert (res.status, res.acked) == ("success", 30)
    posts = sb.recorded("POST")
    assert [p["path"] for p in posts] == ["/v1/audienceMembers:ingest"]
    body = posts[0]["body"]
    assert body["destinations"] == [{"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                                     "productDestinationId": "555"}]  # fmt: skip
    assert body["consent"] == {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    assert body["encoding"] == "HEX"
    assert body["termsOfService"] == {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
    ids = body["audienceMembers"][0]["compositeData"]["userData"]["userIdentifiers"]
    # gmail: dots and the +tag removed; phone E.164; the address with the country name mapped to its code
    assert ids[0] == {"emailAddress": sha256("firstlast0@gmail.com")}
    assert ids[1] == {"phoneNumber": sha256("+12125650000")}
    assert ids[2] == {"address": {"givenName": sha256("mary"), "familyName": sha256("smith"), "regionCode": "US",
                                  "postalCode": "10001"}}  # fmt: skip
    # diagnostics polled until the request left PROCESSING, then the list's size read back
    gets = [g["path"] for g in sb.recorded("GET")]
    assert gets.count("/v1/requestStatus:retrieve") >= 2
    assert "/v1/accountTypes/GOOGLE_ADS/accounts/1234567890/userLists/555" in gets
    assert "'displayNetworkMembersCount': 30" in caplog.text
    # mirror removal: by every identifier that was sent, on :remove, without consent
    people.execute("DELETE FROM main.sync_people WHERE email = 'user1@example.com'")
    res = run_sync(cfg, con=people)
    assert (res.removed, res.acked) == (1, 1)
    rm = sb.recorded("POST")[-1]
    assert rm["path"] == "/v1/audienceMembers:remove" and "consent" not in rm["body"]
    assert sha256("user1@example.com") not in sb.member_digests() and len(sb.member_digests()) == 29


def test_base64_encoding(tmp_path: Path, sb: GoogleDataManagerSandbox, people) -> None:
    res = run_sync(_cfg(tmp_path, sb, {"encoding": "base64"}), con=people)
    assert res.acked == 30
    body = sb.recorded("POST")[0]["body"]
    assert body["encoding"] == "BASE64"
    emails = {base64.b64decode(m["compositeData"]["userData"]["userIdentifiers"][0]["emailAddress"]).hex()
              for m in body["audienceMembers"]}  # fmt: skip
    assert sha256("user1@example.com") in emails
    assert sha256("user1@example.com") in sb.member_digests()


def test_sandbox_refuses_what_google_refuses(sb: GoogleDataManagerSandbox) -> None:
    dest = {"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1"}, "productDestinationId": "555"}
    ok = {"userData": {"userIdentifiers": [{"emailAddress": sha256("a@example.com")}]}}
    bad = {"userData": {"userIdentifiers": [{"emailAddress": "a@example.com"}]}}
    h = {"authorization": f"Bearer {TOKEN}"}
    url = f"{sb.url}/v1/audienceMembers:ingest"
    r = httpx.post(url, json={"destinations": [dest], "audienceMembers": [ok, bad], "encoding": "HEX"}, headers=h)
    assert r.status_code == 400  # fail-fast: nothing applied
    v = r.json()["error"]["details"][0]["fieldViolations"][0]
    assert v["field"].startswith("audienceMembers[1].") and v["reason"] == "INVALID_HEX_ENCODING"
    assert not sb.member_digests()
    mixed = [ok, {"compositeData": {"userData": {"userIdentifiers": [{"emailAddress": sha256("b@example.com")}]}}}]
    r = httpx.post(url, json={"destinations": [dest], "audienceMembers": mixed, "encoding": "HEX"}, headers=h)
    assert r.json()["error"]["details"][-1]["reason"] == "MULTIPLE_DATA_TYPES_NOT_ALLOWED"
    r = httpx.post(url, json={"destinations": [dest], "audienceMembers": [ok]}, headers=h)
    assert r.status_code == 400 and "encoding" in r.json()["error"]["message"]
    other = {**dest, "productDestinationId": "999"}
    r = httpx.post(url, json={"destinations": [other], "audienceMembers": [ok], "encoding": "HEX"}, headers=h)
    assert r.json()["error"]["details"][-1]["reason"] == "INVALID_USER_LIST_ID"
    r = httpx.post(url, json={"destinations": [dest], "audienceMembers": [ok] * 10_001, "encoding": "HEX"}, headers=h)
    assert r.json()["error"]["details"][-1]["reason"] == "TOO_MANY_AUDIENCE_MEMBERS"
    assert httpx.post(url, json={}, headers={}).status_code == 401


def test_bad_rows_named_by_google_are_rejected_and_the_rest_delivered(
    tmp_path: Path, sb: GoogleDataManagerSandbox, people
) -> None:
    """A digest column holding a value that is not a SHA-256 digest: Google names that member; it is rejected
    and the others are sent again in one request."""
    cfg = _cfg(tmp_path, sb)
    dest = GoogleDataManagerDestination(cfg, TOKEN)
    resp = httpx.Response(400, json={"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [
        {"fieldViolations": [{"field": "audienceMembers[2].userData.userIdentifiers[0].emailAddress",
                              "reason": "INVALID_SHA256_FORMAT", "description": "not SHA-256"}]}]}})  # fmt: skip
    assert dest.row_errors(resp, 5) == {2: "INVALID_SHA256_FORMAT: not SHA-256"}
    assert dest.refusal_scope(resp) == "rows"
    listed = httpx.Response(400, json={"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [
        {"reason": "INVALID_USER_LIST_ID"}]}})  # fmt: skip
    assert dest.refusal_scope(listed) == "request" and dest.row_errors(listed, 5) == {}
    quota = httpx.Response(429, json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}})  # fmt: skip
    assert dest.throttle_delay(quota) == 30.0 and dest.refusal_scope(quota) == "request"


def test_failed_request_diagnostics_reject_its_rows(tmp_path: Path, sb: GoogleDataManagerSandbox, people) -> None:
    sb.inject("partial", keys=[sha256("user3@example.com")])
    with pytest.raises(SyncFailed) as failed:
        run_sync(_cfg(tmp_path, sb), con=people)
    res = failed.value.result  # FAILED: Google's error counts on every row of the request
    assert (res.acked, res.rejected) == (0, 30)
    assert "INVALID_AUDIENCE_MEMBER x1" in str(res.error)


def test_requests_and_answers_follow_google_discovery_document(
    tmp_path: Path, sb: GoogleDataManagerSandbox, people
) -> None:
    """Google's discovery document (Apache-2.0, trimmed copy in tests/data/vendor-specs/google_data_manager):
    every body the destination sends validates against the method's request schema, every answer against its
    response schema, and the sandbox refuses a body the document does not allow."""
    from activations.sandboxes.google_data_manager import SPEC
    from activations.sandboxes.spec import discovery_validator, errors

    cfg = _cfg(tmp_path, sb, {"encoding": "base64", "login_account_id": "111-222-3333"})
    run_sync(cfg, con=people)
    people.execute("DELETE FROM main.sync_people WHERE email = 'user1@example.com'")
    run_sync(cfg, con=people)
    posts = sb.recorded("POST")
    assert {p["path"] for p in posts} == {"/v1/audienceMembers:ingest", "/v1/audienceMembers:remove"}
    for p in posts:
        method = "datamanager.audienceMembers." + p["path"].rsplit(":", 1)[1]
        assert errors(discovery_validator(SPEC, method), p["body"]) == [], p["path"]
    h = {"authorization": f"Bearer {TOKEN}"}
    url = f"{sb.url}/v1/audienceMembers:ingest"
    body = dict(posts[0]["body"])
    r = httpx.post(url, json=body, headers=h)
    assert r.status_code == 200
    assert errors(discovery_validator(SPEC, "datamanager.audienceMembers.ingest", "response"), r.json()) == []
    # a field the request message does not define, and a value outside an enum: refused as Google refuses them
    for bad in ({**body, "userConsent": "yes"},
                {**body, "termsOfService": {"customerMatchTermsOfServiceStatus": "AGREED"}}):  # fmt: skip
        r = httpx.post(url, json=bad, headers=h)
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", r.text
