"""Mailchimp batch subscribe/update and archive over real HTTP to its sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activations.destinations.mailchimp import subscriber_hash
from activations.engine import SyncFailed, run_sync
from activations.sandboxes.mailchimp import MailchimpSandbox
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from tests.integration.destinations.conftest import TOKEN, need_spec

LIST = "a1b2c3d4e5"
FIELDS = {"email": "email_address", "first_name": "merge_fields.FNAME", "score": "merge_fields.SCORE"}


@pytest.fixture
def sb(token: str) -> Iterator[MailchimpSandbox]:
    with MailchimpSandbox(token=TOKEN) as s:
        yield s


def _cfg(tmp_path: Path, sb: MailchimpSandbox, **kw):
    d = vendor_sync_dict("mailchimp", sb.url + "/3.0", options={"list_id": LIST}, fields=FIELDS, **kw)
    return write_sync(tmp_path / "syncs", d)


def _model(con) -> dict[str, tuple]:
    rows = con.execute("SELECT email, first_name, score FROM main.sync_contacts").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _subscribed(sb: MailchimpSandbox) -> dict[str, tuple]:
    return {
        e: (m["merge_fields"]["FNAME"], m["merge_fields"]["SCORE"]) for e, m in sb.members(LIST, "subscribed").items()
    }


def test_full_incremental_and_archive(tmp_path: Path, sb: MailchimpSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb, batch_size=1000)  # capped at 500 members per call
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.requests) == ("success", 200, 1)
    assert _subscribed(sb) == _model(con)
    member = sb.recorded("POST")[0]["body"]["members"][0]
    assert member == {
        "email_address": "user0@example.com",
        "merge_fields": {"FNAME": "name0", "SCORE": 0},
        "status_if_new": "subscribed",
    }
    con.execute("UPDATE main.sync_contacts SET score = 77 WHERE person_id < 3")
    con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 197")
    res = run_sync(cfg, con=con)
    assert (res.changed, res.removed, res.acked) == (3, 3, 6)
    assert _subscribed(sb) == _model(con)
    assert set(sb.members(LIST, "archived")) == {
        "user197@example.com",
        "user198@example.com",
        "user199@example.com",
    }
    deletes = [r["path"] for r in sb.recorded("DELETE")]
    assert f"/3.0/lists/{LIST}/members/{subscriber_hash('user197@example.com')}" in deletes


def test_member_errors_rejected(tmp_path: Path, sb: MailchimpSandbox, con) -> None:
    sb.inject("partial", keys=["user11@example.com"], message="looks fake")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 199, 1)
    (msg,) = con.execute("SELECT last_error FROM outflow_sync.sync_rejected_rows").fetchone()
    assert msg == "ERROR_CONTACT_EXISTS: looks fake"


def test_429_and_auth(tmp_path: Path, sb: MailchimpSandbox, con, monkeypatch) -> None:
    sb.inject("status", code=429, retry_after="0.2", times=1)
    assert run_sync(_cfg(tmp_path, sb), con=con).throttled == 1
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "wrong-us21")
    with pytest.raises(SyncFailed, match="API Key Invalid") as exc:
        run_sync(_cfg(tmp_path, sb, name="mc2"), con=con)
    assert "wrong-us21" not in str(exc.value)


def test_simultaneous_connection_limit(tmp_path: Path, token: str, con) -> None:
    # Mailchimp allows 10 simultaneous connections per key; here 2, each call taking 0.2 s, and a sync that
    # keeps 4 calls in flight: the extra calls get 429 and are retried until every row lands
    with MailchimpSandbox(token=TOKEN, max_connections=2, latency=0.2) as sb:
        res = run_sync(_cfg(tmp_path, sb, batch_size=20, concurrency=4), con=con)
        assert (res.status, res.acked) == ("success", 200) and res.throttled >= 1
        assert sb.stats["rate_limited"] >= 1 and _subscribed(sb) == _model(con)
        con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 196")
        res = run_sync(_cfg(tmp_path, sb, batch_size=20, concurrency=4), con=con)
        assert (res.status, res.removed) == ("success", 4) and len(sb.members(LIST, "archived")) == 4


def test_sandbox_connection_limit_is_the_published_one(token: str) -> None:
    with MailchimpSandbox(token=TOKEN, real_rate_limit=True) as sb:
        assert sb.max_connections == 10 and sb.bucket is not None
    with MailchimpSandbox(token=TOKEN) as sb:
        assert sb.max_connections is None and sb.bucket is None


def test_destination_requests_follow_mailchimp_spec_when_present(tmp_path: Path, sb: MailchimpSandbox, con) -> None:
    """Batch subscribe bodies through a sandbox that validates them against Mailchimp's own Marketing API document
    (a local copy: Mailchimp publishes it without a licence to redistribute). A refused body fails the sync."""
    need_spec("mailchimp", "marketing.json")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.status, res.acked) == ("success", 200)
    r = httpx.post(f"{sb.url}/3.0/lists/{LIST}", json={"members": [{"email_address": 5}]},
                   auth=("anystring", TOKEN))  # fmt: skip
    assert r.status_code == 400 and "members.0.email_address" in r.json()["detail"]
