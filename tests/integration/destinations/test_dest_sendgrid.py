"""SendGrid Marketing over real HTTP to its sandbox (bodies checked against SendGrid's OpenAPI spec); upserts
are asynchronous import jobs, polled until SendGrid reports them finished."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activations.destinations.sendgrid import SendGridDestination
from activations.engine import SyncFailed, run_sync
from activations.sandboxes.base import Request
from activations.sandboxes.sendgrid import CONTACTS_SPEC, SendGridSandbox
from activations.sandboxes.spec import errors, response_validator
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from outflow.errors import OutflowError
from tests.integration.destinations.conftest import TOKEN, need_spec

LIST = "0c3e2f0a-6a51-4c62-9d0e-6b3f2b1d8a11"


@pytest.fixture
def sb(token: str) -> Iterator[SendGridSandbox]:
    need_spec("sendgrid")
    with SendGridSandbox(token=TOKEN) as s:
        yield s


FAST_POLL = {"list_id": LIST, "job_poll_interval_seconds": 0.05, "job_poll_max_interval_seconds": 0.2}


def _cfg(tmp_path: Path, sb: SendGridSandbox, options: dict | None = None, **kw):
    d = vendor_sync_dict("sendgrid", sb.url, options={**FAST_POLL, **(options or {})}, **kw)
    return write_sync(tmp_path / "syncs", d)


def _model(con) -> dict[str, str]:
    return dict(con.execute("SELECT email, first_name FROM main.sync_contacts").fetchall())


def _members(sb: SendGridSandbox) -> dict[str, str]:
    return {e: c.get("first_name") for e, c in sb.list_members(LIST).items()}


def test_full_incremental_and_mirror_removal(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked) == ("success", 200)
    polls = sb.recorded("GET", "/v3/marketing/contacts/imports/")
    assert len(sb.recorded("PUT")) == 2 and len(polls) >= 2  # each job polled until SendGrid finished it
    for p in polls[-2:]:
        assert p["path"].rsplit("/", 1)[1] in sb.jobs
    assert all(j["status"] == "completed" for j in sb.jobs.values())
    assert _members(sb) == _model(con)
    put = sb.recorded("PUT", "/v3/marketing/contacts")[0]["body"]
    assert put["list_ids"] == [LIST] and put["contacts"][0] == {
        "email": "user0@example.com",
        "first_name": "name0",
    }
    con.execute("UPDATE main.sync_contacts SET first_name = 'changed' WHERE person_id < 10")
    con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 190")
    res = run_sync(cfg, con=con)
    assert (res.changed, res.removed, res.acked) == (10, 10, 20)
    assert _members(sb) == _model(con)
    assert len(sb.store()["contacts"]) == 200  # removal takes them off the list; contacts stay
    assert sb.recorded("DELETE")[0]["query"]["contact_ids"][0].count(",") == 9
    assert run_sync(cfg, con=con).requests == 0


def test_job_errors_rejected_with_sendgrid_message_and_retried(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    """The 202 only queues the job: contacts the job later refuses come back in its errors file."""
    sb.inject("partial", keys=["user3@example.com", "user150@example.com"], message="email is on a block list")
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 198, 2)
    rej = dict(con.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchall())
    assert set(rej) == {"user3@example.com", "user150@example.com"}
    jobs = list(sb.jobs.values())  # batch 1 (user0..99 by key order) and batch 2
    assert [j["status"] for j in jobs] == ["errored", "errored"]
    assert {rej[k] for k in rej} == {f"SendGrid import job {j['id']} errored: email is on a block list" for j in jobs}
    assert all(j["results"]["errored_count"] == 1 and "errors_url" in j["results"] for j in jobs)
    assert len(_members(sb)) == 198 and "user3@example.com" not in _members(sb)
    assert sb.stats["errors_file_downloads"] == 2 and sb.stats.get("errors_file_got_api_key", 0) == 0
    logged = con.execute("SELECT status, count(*) FROM outflow_sync.sync_row_log GROUP BY status ORDER BY 1").fetchall()
    assert logged == [("ok", 198), ("rejected", 2)]
    # next run: the engine re-sends the rejected rows; once SendGrid takes them they are acknowledged
    sb.faults.partial_keys.clear()
    res = run_sync(cfg, con=con)
    assert (res.status, res.added, res.acked) == ("success", 2, 2)
    assert _members(sb) == _model(con)
    assert con.execute("SELECT count(*) FROM outflow_sync.sync_rejected_rows").fetchone() == (0,)


def test_failed_job_rejects_every_row(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 3")
    sb.inject("partial", keys=[f"user{i}@example.com" for i in range(3)], message="contact limit reached")
    with pytest.raises(SyncFailed, match="was rejected") as exc:  # nothing confirmed: the run fails
        run_sync(_cfg(tmp_path, sb), con=con)
    res = exc.value.result
    assert (res.status, res.acked, res.rejected) == ("failed", 0, 3)
    assert [j["status"] for j in sb.jobs.values()] == ["failed"]
    msgs = {m for (m,) in con.execute("SELECT last_error FROM outflow_sync.sync_rejected_rows").fetchall()}
    assert len(msgs) == 1 and msgs.pop().endswith("failed: contact limit reached")


def test_job_still_pending_at_timeout_is_not_reported_delivered(tmp_path: Path, token: str, con) -> None:
    need_spec("sendgrid")
    with SendGridSandbox(token=TOKEN, job_seconds=3.0) as sb:
        cfg = _cfg(tmp_path, sb, options={"job_poll_timeout_seconds": 0.3})
        with pytest.raises(SyncFailed, match="was rejected") as exc:  # nothing confirmed: the run fails
            run_sync(cfg, con=con)
        res = exc.value.result
        assert (res.status, res.acked, res.rejected) == ("failed", 0, 200)
        (msg,) = con.execute("SELECT DISTINCT last_error FROM outflow_sync.sync_rejected_rows").fetchone()
        assert "still pending after 0.3s" in msg and "job_poll_timeout_seconds" in msg and "re-sent next run" in msg
        assert 2 <= len(sb.recorded("GET", "/v3/marketing/contacts/imports/")) <= 8  # bounded, with backoff


def test_job_status_answers_follow_sendgrid_spec(sb: SendGridSandbox) -> None:
    import httpx

    h = {"authorization": f"Bearer {TOKEN}"}
    body = {"list_ids": [LIST], "contacts": [{"email": "a@example.com"}, {"email": "b@example.com"}]}
    sb.inject("partial", keys=["b@example.com"], message="blocked")
    job_id = httpx.put(f"{sb.url}/v3/marketing/contacts", json=body, headers=h).json()["job_id"]
    validator = response_validator(CONTACTS_SPEC, "/v3/marketing/contacts/imports/{id}", "get")
    pending = httpx.get(f"{sb.url}/v3/marketing/contacts/imports/{job_id}", headers=h).json()
    assert pending["status"] == "pending" and errors(validator, pending) == []
    sb.jobq.job_seconds = 0
    sb.jobq.advance()
    import time

    time.sleep(0.25)
    done = httpx.get(f"{sb.url}/v3/marketing/contacts/imports/{job_id}", headers=h).json()
    assert done["status"] == "errored" and errors(validator, done) == []
    assert done["results"]["errored_count"] == 1 and done["results"]["created_count"] == 1
    csv_text = httpx.get(done["results"]["errors_url"]).text
    assert csv_text.splitlines() == ["email,error", "b@example.com,blocked"]
    assert httpx.get(done["results"]["errors_url"].replace("sig=", "sig=x")).status_code == 403


def test_real_rate_limits_are_per_endpoint(token: str) -> None:
    need_spec("sendgrid")
    with SendGridSandbox(token=TOKEN, real_rate_limit=True) as sb:

        def req(method: str, path: str) -> Request:
            return Request(method, path, {}, {}, b"")

        put = sb.buckets(req("PUT", "/v3/marketing/contacts"))
        status1 = sb.buckets(req("GET", "/v3/marketing/contacts/imports/j1"))
        status2 = sb.buckets(req("GET", "/v3/marketing/contacts/imports/j2"))
        assert put != status1 and status1 == status2
        assert (put[0].capacity, put[0].rate) == (600, 10)  # 600 requests per minute per endpoint


def test_spec_violation_isolated_to_its_row(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    con.execute("UPDATE main.sync_contacts SET first_name = repeat('x', 60) WHERE person_id = 42")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.acked, res.rejected) == (199, 1)
    (msg,) = con.execute("SELECT last_error FROM outflow_sync.sync_rejected_rows").fetchone()
    assert "first_name" in msg and "too long" in msg  # SendGrid's spec: maxLength 50
    assert sb.stats["schema_refused"] >= 1


def test_429_retried_at_x_ratelimit_reset(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    """SendGrid signals a throttle with X-RateLimit-Reset (a Unix time), never Retry-After; the client waits for it."""
    sb.inject("status", code=429, retry_after="0.3", times=2)
    answer = httpx.put(f"{sb.url}/v3/marketing/contacts", json={}, headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 429 and "retry-after" not in answer.headers
    assert float(answer.headers["x-ratelimit-reset"]) >= time.time()
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert res.status == "success" and res.throttled == 1 and res.retries == 1
    assert _members(sb) == _model(con)


def test_retry_budget_spent_stops_cleanly_with_rows_pending(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    """A throttle longer than the run's retry budget: the run stops at once (no long sleep), says why, and the
    rows stay pending for the next run, which delivers them."""
    sb.inject("status", code=429, retry_after="3600", times=1)
    cfg = _cfg(tmp_path, sb, destination={"retry_budget_seconds": 2, "max_retry_after_seconds": 7200})
    t0 = time.monotonic()
    with pytest.raises(SyncFailed) as err:
        run_sync(cfg, con=con)
    assert time.monotonic() - t0 < 30
    res = err.value.result
    assert res.status == "stopped" and "retry budget spent" in res.error
    assert "destination.retry_budget_seconds: 2" in res.error and "rows left pending" in res.error
    assert con.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone()[0] == 0
    assert run_sync(cfg, con=con).status == "success"
    assert _members(sb) == _model(con)


def test_auth_failure_stops_and_hides_secret(tmp_path: Path, sb: SendGridSandbox, con, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "SG.wrong-key")
    with pytest.raises(SyncFailed, match="refused the credentials from OUTFLOW_TEST_VENDOR_TOKEN") as exc:
        run_sync(_cfg(tmp_path, sb), con=con)
    assert exc.value.result.requests == 1 and "SG.wrong-key" not in str(exc.value)
    (err,) = con.execute("SELECT error FROM outflow_sync.sync_runs").fetchone()
    assert "SG.wrong-key" not in err


def test_missing_list_id_is_a_clear_error(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    cfg = write_sync(tmp_path / "syncs", vendor_sync_dict("sendgrid", sb.url))
    with pytest.raises(OutflowError, match="destination.options.list_id: required"):
        run_sync(cfg, con=con)
    cfg = write_sync(tmp_path / "s2", vendor_sync_dict("sendgrid", sb.url, primary_key="person_id",
                                                       options={"list_id": LIST}))  # fmt: skip
    with pytest.raises(OutflowError, match="identifies records by email"):
        run_sync(cfg, con=con)
    cfg = _cfg(tmp_path / "s3", sb, options={"job_poll_timeout_seconds": "soon"})
    with pytest.raises(OutflowError, match=r"destination.options.job_poll_timeout_seconds: expected a number"):
        run_sync(cfg, con=con)


def test_missing_list_costs_one_request_not_2n_minus_1(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    """SendGrid's 404 for a list that does not exist, and a 400 naming ``list_ids``, are about the request: the
    sync stops after one request with SendGrid's message instead of halving the batch down to single rows."""
    sb.inject("status", code=404, message="The specified list ID does not exist", times=1000)
    with pytest.raises(SyncFailed) as err:
        run_sync(_cfg(tmp_path, sb), con=con)
    res = err.value.result
    assert res.requests == 1 and "The specified list ID does not exist" in res.error
    d = SendGridDestination(_cfg(tmp_path, sb), TOKEN)
    bad_list = httpx.Response(400, json={"errors": [{"field": "list_ids[0]", "message": "invalid list id"}]})
    bad_row = httpx.Response(400, json={"errors": [{"field": "contacts[3].email", "message": "invalid email"}]})
    assert d.refusal_scope(bad_list) == "request" and d.refusal_scope(bad_row) == "rows"
