"""Google Ads Customer Match over real HTTP to its sandbox: create job -> addOperations -> run -> poll the
long-running operation until done."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activations.engine import SyncFailed, run_sync
from activations.hashing import sha256
from activations.sandboxes.google_ads import GoogleAdsSandbox
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from outflow.errors import OutflowError
from tests.integration.destinations.conftest import TOKEN

CID, UL = "1234567890", "555"
LIST = f"customers/{CID}/userLists/{UL}"
FIELDS = {"email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name",
          "country": "country_code", "zip": "postal_code"}  # fmt: skip
DEV_ENV = "OUTFLOW_TEST_GOOGLE_DEV_TOKEN"


@pytest.fixture
def sb(token: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleAdsSandbox]:
    monkeypatch.setenv(DEV_ENV, "dev-token-1")
    with GoogleAdsSandbox(token=TOKEN, developer_token="dev-token-1") as s:
        yield s


@pytest.fixture
def people(con):
    con.execute(
        """CREATE OR REPLACE TABLE main.sync_people AS SELECT
           CASE WHEN i % 2 = 0 THEN 'First.Last' || i || '@Gmail.com' ELSE 'user' || i || '@example.com' END
             AS email,
           '(212) 565-' || lpad(i::VARCHAR, 4, '0') AS phone, 'Mary' AS first_name, 'Smith' AS last_name,
           'US' AS country, '10001' AS zip FROM range(120) r(i)"""
    )
    return con


def _cfg(tmp_path: Path, sb: GoogleAdsSandbox, options: dict | None = None, **kw):
    opts = {"customer_id": "123-456-7890", "user_list_id": UL, "developer_token_env": DEV_ENV,
            "legacy_google_ads_api": True,
            "default_region": "US", "job_poll_interval_seconds": 0.05, "job_poll_max_interval_seconds": 0.2,
            **(options or {})}  # fmt: skip
    d = vendor_sync_dict("google_ads_customer_match", sb.url, source="sync_people", fields=FIELDS, options=opts, **kw)
    return write_sync(tmp_path / "syncs", d)


def test_full_incremental_and_mirror_removal(tmp_path: Path, sb: GoogleAdsSandbox, people) -> None:
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=people)
    assert (res.status, res.acked) == ("success", 120)
    calls = [(r["method"], r["path"].rsplit("/", 1)[-1].split(":")[-1]) for r in sb.recorded()]
    # per batch of 100: create, addOperations, run, then the operation polled until done
    assert [c for c in calls if c[0] == "POST"] == [("POST", "create"), ("POST", "addOperations"), ("POST", "run")] * 2
    assert len([c for c in calls if c[0] == "GET"]) >= 2
    create = sb.recorded("POST")[0]["body"]["job"]["customerMatchUserListMetadata"]
    assert create == {"userList": LIST, "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}}
    assert all(op["done"] and "error" not in op for op in sb.operations.values())
    members = sb.members(LIST)
    assert len(members) == 120
    m = members[sha256("firstlast4@gmail.com")]  # gmail dots removed before hashing
    assert m["hashedPhoneNumber"] == sha256("+12125650004")
    assert m["addressInfo"] == {"hashedFirstName": sha256("mary"), "hashedLastName": sha256("smith"),
                                "countryCode": "US", "postalCode": "10001"}  # fmt: skip
    assert sha256("user5@example.com") in members
    assert all(j["status"] == "SUCCESS" for j in sb.store()["jobs"].values())
    # incremental: only the changed rows go, in a create job of their own
    people.execute("UPDATE main.sync_people SET phone = '(212) 565-9999' WHERE email LIKE 'user1_@example.com'")
    n_posts = len(sb.recorded("POST"))
    res = run_sync(cfg, con=people)
    assert (res.changed, res.acked, len(sb.recorded("POST")) - n_posts) == (5, 5, 3)
    ops = sb.recorded("POST")[-2]["body"]["operations"]
    assert len(ops) == 5 and all(o["create"]["userIdentifiers"][1]["hashedPhoneNumber"] == sha256("+12125659999")
                                 for o in ops)  # fmt: skip
    assert sb.members(LIST)[sha256("user11@example.com")]["hashedPhoneNumber"] == sha256("+12125659999")
    # removal (mirror)
    people.execute("DELETE FROM main.sync_people WHERE email IN ('user1@example.com', 'First.Last2@Gmail.com')")
    res = run_sync(cfg, con=people)
    assert (res.removed, res.acked) == (2, 2)
    ops = sb.recorded("POST")[-2]["body"]["operations"]
    assert {next(iter(o)) for o in ops} == {"remove"}
    assert "consent" not in sb.recorded("POST")[-3]["body"]["job"]["customerMatchUserListMetadata"]
    assert len(sb.members(LIST)) == 118 and sha256("firstlast2@gmail.com") not in sb.members(LIST)


def test_partial_failure_rejects_operations(tmp_path: Path, sb: GoogleAdsSandbox, people) -> None:
    sb.inject("partial", keys=[sha256("user7@example.com")], message="user identifier refused")
    res = run_sync(_cfg(tmp_path, sb), con=people)
    assert (res.status, res.acked, res.rejected) == ("partial", 119, 1)
    (key, msg) = people.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchone()
    assert key == "user7@example.com" and msg == "INVALID_USER_IDENTIFIER: user identifier refused"
    assert all(o["body"]["enablePartialFailure"] for o in sb.recorded("POST") if "operations" in (o["body"] or {}))


def test_one_job_many_add_operations_partial_failure_by_offset(tmp_path: Path, sb: GoogleAdsSandbox, people) -> None:
    sb.inject("partial", keys=[sha256("user57@example.com"), sha256("user3@example.com")], message="refused")
    res = run_sync(_cfg(tmp_path, sb, options={"operations_per_request": 50}, batch_size=120), con=people)
    assert (res.status, res.acked, res.rejected) == ("partial", 118, 2)
    assert len(sb.jobs) == 1  # one job for the batch ...
    adds = [r for r in sb.recorded("POST") if r["path"].endswith(":addOperations")]
    assert [len(a["body"]["operations"]) for a in adds] == [50, 50, 20]  # ... in three addOperations calls
    rej = dict(people.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchall())
    assert rej == {"user57@example.com": "INVALID_USER_IDENTIFIER: refused",
                   "user3@example.com": "INVALID_USER_IDENTIFIER: refused"}  # fmt: skip
    assert len(sb.members(LIST)) == 118


def test_failed_job_rejects_its_rows_and_they_are_retried(tmp_path: Path, sb: GoogleAdsSandbox, people) -> None:
    sb.fail_jobs("PROCESSING_FAILURE")
    cfg = _cfg(tmp_path, sb)
    with pytest.raises(SyncFailed, match="every row sent \\(120\\) was rejected") as exc:  # exits non-zero
        run_sync(cfg, con=people)
    res = exc.value.result
    assert (res.status, res.acked, res.rejected) == ("failed", 0, 120)
    (msg,) = people.execute("SELECT DISTINCT last_error FROM outflow_sync.sync_rejected_rows").fetchone()
    assert (
        msg.startswith(f"customers/{CID}/offlineUserDataJobs/") and "failed: 13" in msg and "PROCESSING_FAILURE" in msg
    )
    assert sb.members(LIST) == {}
    sb.fail_jobs(None)
    res = run_sync(cfg, con=people)
    assert (res.status, res.added, res.acked) == ("success", 120, 120) and len(sb.members(LIST)) == 120


def test_job_still_running_at_timeout_is_acked_and_named(
    tmp_path: Path, token: str, people, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(DEV_ENV, "dev-token-1")
    with GoogleAdsSandbox(token=TOKEN, developer_token="dev-token-1", job_seconds=30) as sb:
        with caplog.at_level(logging.WARNING, logger="activations.destinations.google_ads"):
            res = run_sync(_cfg(tmp_path, sb, options={"job_poll_timeout_seconds": 0.3}, batch_size=200), con=people)
        # the rows are in a job Google accepted to run: acknowledged, not re-sent, and the job is named
        assert (res.status, res.acked) == ("success", 120)
        (job,) = sb.jobs
        assert sb.jobs[job]["status"] == "RUNNING"
        (op,) = sb.operations
        assert any(job in r.getMessage() and op in r.getMessage() and "still processing" in r.getMessage()
                   for r in caplog.records)  # fmt: skip
        assert len([r for r in sb.recorded("GET")]) <= 5  # bounded polling with backoff
        # ... and the run log keeps the job's name beside each acknowledged row
        logged = people.execute(
            "SELECT status, message FROM outflow_sync.sync_row_log WHERE run_id = ?", [res.run_id]
        ).fetchall()
        assert len(logged) == 120 and all(s == "ok" and job in m and op in m for s, m in logged)


def test_sandbox_enforces_google_job_rules(sb: GoogleAdsSandbox) -> None:
    h = {"authorization": f"Bearer {TOKEN}", "developer-token": "dev-token-1"}
    base = f"{sb.url}/v26/customers/{CID}/offlineUserDataJobs"
    meta = {"userList": LIST, "consent": {"adUserData": "DENIED", "adPersonalization": "GRANTED"}}
    denied = httpx.post(f"{base}:create", json={"job": {"type": "CUSTOMER_MATCH_USER_LIST",
                                                        "customerMatchUserListMetadata": meta}}, headers=h)  # fmt: skip
    assert denied.status_code == 400 and "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS" in denied.text
    job = httpx.post(f"{base}:create", json={"job": {"type": "CUSTOMER_MATCH_USER_LIST",
                                                     "customerMatchUserListMetadata": {"userList": LIST}}},
                     headers=h).json()["resourceName"]  # fmt: skip
    uid = {"userIdentifiers": [{"hashedEmail": sha256("a@example.com")}]}
    ok = httpx.post(f"{sb.url}/v26/{job}:addOperations", json={"operations": [{"create": uid}]}, headers=h)
    assert ok.status_code == 200
    mixed = httpx.post(f"{sb.url}/v26/{job}:addOperations", json={"operations": [{"remove": uid}]}, headers=h)
    assert mixed.status_code == 400 and "CONFLICTING_OPERATION" in mixed.text
    many = {"operations": [{"create": {"userIdentifiers": [{"hashedEmail": sha256(f"{i}@x.com")}] * 20}}
                           for i in range(5001)]}  # fmt: skip
    assert "TOO_MANY_USER_IDENTIFIERS" in httpx.post(f"{sb.url}/v26/{job}:addOperations", json=many, headers=h).text


def test_daily_operations_quota(tmp_path: Path, token: str, people, monkeypatch) -> None:
    monkeypatch.setenv(DEV_ENV, "dev-token-1")
    with GoogleAdsSandbox(token=TOKEN, developer_token="dev-token-1", daily_operations=4) as sb:
        # Google names the wait in QuotaErrorDetails.retryDelay (a day here): past the retry budget, the run stops
        with pytest.raises(SyncFailed, match="RESOURCE_EXHAUSTED") as exc:
            run_sync(_cfg(tmp_path, sb, destination={"retry_budget_seconds": 5}), con=people)
        res = exc.value.result
        assert res.acked == 100 and sb.stats["daily_quota_exceeded"] >= 1  # batch 1 fit the quota
        assert res.status == "stopped" and "retry budget spent" in res.error and "rows left pending" in res.error


def test_throttle_answer_names_its_retry_delay_in_the_body(tmp_path: Path, token: str, people, monkeypatch) -> None:
    """Google sends no Retry-After: the wait is QuotaErrorDetails.retryDelay, which the client honours."""
    monkeypatch.setenv(DEV_ENV, "dev-token-1")
    h = {"authorization": f"Bearer {TOKEN}", "developer-token": "dev-token-1"}
    with GoogleAdsSandbox(token=TOKEN, developer_token="dev-token-1", rate_limit=(1, 30)) as probe:
        answers = [httpx.get(f"{probe.url}/v26/customers/{CID}/operations/1", headers=h) for _ in range(2)]
        throttled = answers[-1]
        assert throttled.status_code == 429 and "retry-after" not in throttled.headers
        details = throttled.json()["error"]["details"][0]["errors"][0]["details"]["quotaErrorDetails"]
        assert 25 < float(details["retryDelay"].removesuffix("s")) <= 30
    with GoogleAdsSandbox(token=TOKEN, developer_token="dev-token-1", rate_limit=(2, 0.4)) as sb:
        res = run_sync(_cfg(tmp_path, sb), con=people)
        assert res.status == "success" and res.throttled >= 1 and len(sb.members(LIST)) == 120


def test_429_retried(tmp_path: Path, sb: GoogleAdsSandbox, people) -> None:
    sb.inject("status", code=429, retry_after="0.2", times=2)
    res = run_sync(_cfg(tmp_path, sb), con=people)
    assert res.status == "success" and res.throttled == 2 and len(sb.members(LIST)) == 120


def test_auth_failures(tmp_path: Path, sb: GoogleAdsSandbox, people, monkeypatch) -> None:
    monkeypatch.setenv(DEV_ENV, "wrong-dev-token")
    with pytest.raises(SyncFailed, match="UNAUTHENTICATED") as exc:
        run_sync(_cfg(tmp_path, sb), con=people)
    assert exc.value.result.requests == 1 and "wrong-dev-token" not in str(exc.value)
    monkeypatch.delenv(DEV_ENV)
    with pytest.raises(OutflowError, match=f"environment variable {DEV_ENV} is not set"):
        run_sync(_cfg(tmp_path, sb), con=people)


def test_legacy_path_is_opt_in(tmp_path: Path, sb: GoogleAdsSandbox, people) -> None:
    """Google refuses new Customer Match users on the Google Ads API: without the explicit opt-in nothing is
    sent, and the one-line error names the file and the key."""
    with pytest.raises(OutflowError, match=r"\.yml: destination\.options\.legacy_google_ads_api: .*data_manager"):
        run_sync(_cfg(tmp_path, sb, {"legacy_google_ads_api": False}), con=people)
    assert sb.recorded() == []
