"""SendGrid Marketing over real HTTP to its sandbox (bodies checked against SendGrid's OpenAPI spec)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.engine import SyncFailed, run_sync
from activations.sandboxes.sendgrid import SendGridSandbox
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from outflow.errors import OutflowError
from tests.integration.destinations.conftest import TOKEN, need_spec

LIST = "0c3e2f0a-6a51-4c62-9d0e-6b3f2b1d8a11"


@pytest.fixture
def sb(token: str) -> Iterator[SendGridSandbox]:
    need_spec("sendgrid")
    with SendGridSandbox(token=TOKEN) as s:
        yield s


def _cfg(tmp_path: Path, sb: SendGridSandbox, **kw):
    return write_sync(tmp_path / "syncs", vendor_sync_dict("sendgrid", sb.url, options={"list_id": LIST}, **kw))


def _model(con) -> dict[str, str]:
    return dict(con.execute("SELECT email, first_name FROM main.sync_contacts").fetchall())


def _members(sb: SendGridSandbox) -> dict[str, str]:
    return {e: c.get("first_name") for e, c in sb.list_members(LIST).items()}


def test_full_incremental_and_mirror_removal(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.requests) == ("success", 200, 2)
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


def test_row_errors_rejected_rest_resent(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    sb.inject("partial", keys=["user3@example.com", "user150@example.com"], message="email is on a block list")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 198, 2)
    rej = con.execute("SELECT key, last_error FROM outflow.sync_rejected_rows ORDER BY key").fetchall()
    assert rej[0] == ("user150@example.com", "contacts[50].email: email is on a block list")
    assert len(_members(sb)) == 198 and "user3@example.com" not in _members(sb)


def test_spec_violation_isolated_to_its_row(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    con.execute("UPDATE main.sync_contacts SET first_name = repeat('x', 60) WHERE person_id = 42")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.acked, res.rejected) == (199, 1)
    (msg,) = con.execute("SELECT last_error FROM outflow.sync_rejected_rows").fetchone()
    assert "first_name" in msg and "too long" in msg  # SendGrid's spec: maxLength 50
    assert sb.stats["schema_refused"] >= 1


def test_429_retried_with_retry_after(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    sb.inject("status", code=429, retry_after="0.3", times=2)
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert res.status == "success" and res.throttled == 2 and res.retries == 2
    assert _members(sb) == _model(con)


def test_auth_failure_stops_and_hides_secret(tmp_path: Path, sb: SendGridSandbox, con, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "SG.wrong-key")
    with pytest.raises(SyncFailed, match="refused the credentials from OUTFLOW_TEST_VENDOR_TOKEN") as exc:
        run_sync(_cfg(tmp_path, sb), con=con)
    assert exc.value.result.requests == 1 and "SG.wrong-key" not in str(exc.value)
    (err,) = con.execute("SELECT error FROM outflow.sync_runs").fetchone()
    assert "SG.wrong-key" not in err


def test_missing_list_id_is_a_clear_error(tmp_path: Path, sb: SendGridSandbox, con) -> None:
    cfg = write_sync(tmp_path / "syncs", vendor_sync_dict("sendgrid", sb.url))
    with pytest.raises(OutflowError, match="destination.options.list_id: required"):
        run_sync(cfg, con=con)
    cfg = write_sync(tmp_path / "s2", vendor_sync_dict("sendgrid", sb.url, primary_key="person_id",
                                                       options={"list_id": LIST}))  # fmt: skip
    with pytest.raises(OutflowError, match="identifies records by email"):
        run_sync(cfg, con=con)
