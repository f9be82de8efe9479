"""Klaviyo over real HTTP to its sandbox (JSON:API bodies checked against Klaviyo's OpenAPI spec); profile
imports are asynchronous jobs, polled until complete and their import errors mapped back to rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activations.engine import SyncFailed, run_sync
from activations.sandboxes.base import TokenBucket
from activations.sandboxes.jobs import JobQueue
from activations.sandboxes.klaviyo import JSONAPI, PROFILES_SPEC, KlaviyoSandbox
from activations.sandboxes.spec import errors, response_validator
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from outflow.errors import OutflowError
from tests.integration.destinations.conftest import TOKEN, need_spec

LIST = "VRgFBd"
FIELDS = {"email": "email", "first_name": "first_name", "score": "properties.score"}


@pytest.fixture
def sb(token: str) -> Iterator[KlaviyoSandbox]:
    need_spec("klaviyo")
    with KlaviyoSandbox(token=TOKEN) as s:
        yield s


FAST_POLL = {"list_id": LIST, "job_poll_interval_seconds": 0.05, "job_poll_max_interval_seconds": 0.2}


def _cfg(tmp_path: Path, sb: KlaviyoSandbox, options: dict | None = None, **kw):
    d = vendor_sync_dict("klaviyo", sb.url, options={**FAST_POLL, **(options or {})}, fields=FIELDS, **kw)
    return write_sync(tmp_path / "syncs", d)


def _model(con) -> dict[str, tuple]:
    rows = con.execute("SELECT email, first_name, score FROM main.sync_contacts").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _members(sb: KlaviyoSandbox) -> dict[str, tuple]:
    return {e: (p["first_name"], p["properties"]["score"]) for e, p in sb.list_members(LIST).items()}


def _profiles(post: dict) -> list[dict]:
    return post["body"]["data"]["attributes"]["profiles"]["data"]


def _emails(post: dict) -> set[str]:
    return {p["attributes"]["email"] for p in _profiles(post)}


def test_full_incremental_and_mirror_removal(tmp_path: Path, sb: KlaviyoSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked) == ("success", 200)
    assert len(sb.recorded("POST")) == 2 and len(sb.recorded("GET", "/api/profile-bulk-import-jobs/")) >= 2
    assert [j["status"] for j in sb.jobs.values()] == ["complete", "complete"]
    assert _members(sb) == _model(con)
    job = sb.recorded("POST", "/api/profile-bulk-import-jobs")[0]["body"]["data"]
    assert job["type"] == "profile-bulk-import-job"
    assert job["relationships"]["lists"]["data"] == [{"type": "list", "id": LIST}]
    attrs = {"email": "user1@example.com", "first_name": "name1", "properties": {"score": 7}}
    posts = sb.recorded("POST", "/api/profile-bulk-import-jobs")
    sent = {p["attributes"]["email"]: p for post in posts for p in _profiles(post)}
    assert sent["user1@example.com"] == {"type": "profile", "attributes": attrs}
    con.execute("UPDATE main.sync_contacts SET score = -1 WHERE person_id < 10")
    con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 190")
    res = run_sync(cfg, con=con)
    assert (res.changed, res.removed, res.acked) == (10, 10, 20)
    assert _members(sb) == _model(con)
    assert len(sb.store()["profiles"]) == 200  # profiles stay in Klaviyo; only list membership goes
    lookup = sb.recorded("GET", "/api/profiles")[0]["query"]["filter"][0]
    assert lookup.startswith('any(email,["user19') and '"user190@example.com"' in lookup
    assert run_sync(cfg, con=con).requests == 0


def test_job_import_errors_rejected_and_retried(tmp_path: Path, sb: KlaviyoSandbox, con) -> None:
    """The 202 only queues the job; profiles it refuses come back from its import-errors, paginated."""
    bad = ["user3@example.com", "user150@example.com", *(f"user{i}@example.com" for i in range(10, 13))]
    sb.inject("partial", keys=bad, message="profile is suppressed")
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 195, 5)
    rej = dict(con.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchall())
    assert set(rej) == set(bad)
    job_ids = list(sb.jobs)  # in the order of the POSTs that created them
    per_job = [_emails(post) for post in sb.recorded("POST", "/api/profile-bulk-import-jobs")]
    holder = next(i for i, emails in enumerate(per_job) if "user150@example.com" in emails)
    assert (
        rej["user150@example.com"]
        == f"Klaviyo profile import job {job_ids[holder]}: Invalid input.: profile is suppressed"
    )
    assert [j["failed_count"] for j in sb.jobs.values()] == [len(set(bad) & emails) for emails in per_job]
    assert len(_members(sb)) == 195 and "user3@example.com" not in _members(sb)
    sb.faults.partial_keys.clear()
    res = run_sync(cfg, con=con)
    assert (res.status, res.added, res.acked) == ("success", 5, 5)
    assert _members(sb) == _model(con)


def test_import_errors_paginated(tmp_path: Path, sb: KlaviyoSandbox, con, monkeypatch) -> None:
    from activations.destinations import klaviyo

    bad = [f"user{i}@example.com" for i in range(0, 200, 8)]  # 25 refusals
    sb.inject("partial", keys=bad, message="suppressed")
    monkeypatch.setattr(klaviyo, "ERRORS_PAGE", 4)
    res = run_sync(_cfg(tmp_path, sb, batch_size=200), con=con)
    assert (res.acked, res.rejected) == (175, 25)
    pages = sb.recorded("GET", f"/api/profile-bulk-import-jobs/{next(iter(sb.jobs))}/import-errors")
    assert len(pages) == 7 and "page[cursor]" in pages[-1]["query"]


def test_job_still_queued_at_timeout_is_not_reported_delivered(tmp_path: Path, token: str, con) -> None:
    need_spec("klaviyo")
    with KlaviyoSandbox(token=TOKEN, job_seconds=3.0) as sb:
        with pytest.raises(SyncFailed, match="was rejected") as exc:  # nothing confirmed: the run fails
            run_sync(_cfg(tmp_path, sb, options={"job_poll_timeout_seconds": 0.3}), con=con)
        res = exc.value.result
        assert (res.status, res.acked, res.rejected) == ("failed", 0, 200)
        (msg,) = con.execute("SELECT DISTINCT last_error FROM outflow_sync.sync_rejected_rows").fetchone()
        assert "still queued after 0.3s" in msg and "re-sent next run" in msg


def test_job_answers_follow_klaviyo_spec(sb: KlaviyoSandbox, monkeypatch) -> None:
    import httpx

    now = [0.0]  # the job queue's clock, moved by hand: the job is queued until it is, however loaded the machine
    monkeypatch.setattr(JobQueue, "clock", staticmethod(lambda: now[0]))
    h = {"authorization": f"Klaviyo-API-Key {TOKEN}", "revision": "2026-07-15", "content-type": JSONAPI}
    profiles = [{"type": "profile", "attributes": {"email": e}} for e in ("a@example.com", "b@example.com")]
    body = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}}
    sb.inject("partial", keys=["b@example.com"], message="suppressed")
    posted = httpx.post(f"{sb.url}/api/profile-bulk-import-jobs", json=body, headers=h)
    job_id = posted.json()["data"]["id"]
    v_post = response_validator(PROFILES_SPEC, "/api/profile-bulk-import-jobs", "post", "202", JSONAPI)
    assert posted.status_code == 202 and errors(v_post, posted.json()) == []
    v_job = response_validator(PROFILES_SPEC, "/api/profile-bulk-import-jobs/{job_id}", "get", "200", JSONAPI)
    queued = httpx.get(f"{sb.url}/api/profile-bulk-import-jobs/{job_id}", headers=h).json()
    assert queued["data"]["attributes"]["status"] == "queued" and errors(v_job, queued) == []
    now[0] += sb.job_seconds
    done = httpx.get(f"{sb.url}/api/profile-bulk-import-jobs/{job_id}", headers=h).json()
    assert errors(v_job, done) == []
    assert {k: done["data"]["attributes"][k] for k in ("status", "completed_count", "failed_count")} == {
        "status": "complete", "completed_count": 1, "failed_count": 1}  # fmt: skip
    v_err = response_validator(PROFILES_SPEC, "/api/profile-bulk-import-jobs/{id}/import-errors", "get", "200", JSONAPI)
    errs = httpx.get(f"{sb.url}/api/profile-bulk-import-jobs/{job_id}/import-errors", headers=h).json()
    assert errors(v_err, errs) == [] and len(errs["data"]) == 1
    assert errs["data"][0]["attributes"]["original_payload"]["email"] == "b@example.com"


def test_real_rate_limits_per_endpoint_from_klaviyo_spec(token: str, monkeypatch) -> None:
    import httpx

    need_spec("klaviyo")
    # time stands still for the buckets, so the burst is refused after 10 however slowly a loaded machine sends
    monkeypatch.setattr(TokenBucket, "clock", staticmethod(lambda: 0.0))
    h = {"authorization": f"Klaviyo-API-Key {TOKEN}", "revision": "2026-07-15"}
    with KlaviyoSandbox(token=TOKEN, real_rate_limit=True) as sb:
        with httpx.Client(headers=h) as c:
            codes = [c.get(f"{sb.url}/api/profile-bulk-import-jobs/nope").status_code for _ in range(25)]
        assert codes == [404] * 10 + [429] * 15  # burst 10/s on this endpoint
        lookup = httpx.get(f'{sb.url}/api/profiles?filter=any(email,["a@example.com"])', headers=h)
        assert lookup.status_code == 200  # another endpoint, its own buckets (75/s, 750/m)
        burst, steady = sb.buckets(type("R", (), {"method": "POST", "path": "/api/profile-bulk-import-jobs"})())
        assert (burst.capacity, burst.rate, steady.capacity, steady.rate) == (10, 10, 150, 2.5)


def test_revision_header_and_content_type_sent(tmp_path: Path, sb: KlaviyoSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb, options={"revision": "2026-07-15"})
    assert run_sync(cfg, con=con).acked == 200
    assert sb.stats.get("refused", 0) == 0 and sb.stats.get("schema_refused", 0) == 0


def test_429_honours_retry_after_and_real_rate_limit(tmp_path: Path, token: str, con) -> None:
    with KlaviyoSandbox(token=TOKEN, rate_limit=(2, 1.0)) as sb:  # tiny bucket: 2 requests, 2/s
        cfg = _cfg(tmp_path, sb, batch_size=50)  # 4 imports + their status polls
        res = run_sync(cfg, con=con)
        assert res.status == "success" and res.throttled >= 1
        assert _members(sb) == _model(con)


def test_auth_failure_stops_and_hides_secret(tmp_path: Path, sb: KlaviyoSandbox, con, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "pk_wrong_key_123")
    with pytest.raises(SyncFailed, match="refused the credentials") as exc:
        run_sync(_cfg(tmp_path, sb), con=con)
    assert exc.value.result.requests == 1 and "pk_wrong_key_123" not in str(exc.value)


def test_update_mode_refused_clearly(tmp_path: Path, sb: KlaviyoSandbox, con) -> None:
    with pytest.raises(OutflowError, match="mode: Klaviyo profile import takes upsert or mirror"):
        run_sync(_cfg(tmp_path, sb, mode="update"), con=con)


def test_retired_revision_refused_before_any_request_and_by_the_sandbox(tmp_path: Path, token: str, con) -> None:
    """Klaviyo retires a revision two years after its release: the sync does not start, the sandbox answers 410."""
    with KlaviyoSandbox(token=TOKEN) as sb:
        cfg = _cfg(tmp_path, sb, options={"list_id": LIST, "revision": "2024-06-15"})
        with pytest.raises(OutflowError, match=r"options.revision: Klaviyo API revision 2024-06-15 is retired"):
            run_sync(cfg, con=con)
        assert sb.stats["requests"] == 0
        headers = {"authorization": f"Klaviyo-API-Key {TOKEN}", "revision": "2024-06-15"}
        assert httpx.get(f"{sb.url}/api/profiles", headers=headers).status_code == 410
