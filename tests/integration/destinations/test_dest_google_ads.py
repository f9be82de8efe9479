"""Google Ads Customer Match over real HTTP to its sandbox: create job -> addOperations -> run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


def _cfg(tmp_path: Path, sb: GoogleAdsSandbox, **kw):
    opts = {"customer_id": "123-456-7890", "user_list_id": UL, "developer_token_env": DEV_ENV,
            "default_region": "US"}  # fmt: skip
    d = vendor_sync_dict("google_ads_customer_match", sb.url, source="sync_people", fields=FIELDS, options=opts, **kw)
    return write_sync(tmp_path / "syncs", d)


def test_full_incremental_and_mirror_removal(tmp_path: Path, sb: GoogleAdsSandbox, people) -> None:
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=people)
    assert (res.status, res.acked, res.requests) == ("success", 120, 6)  # 2 batches x (create, add, run)
    members = sb.members(LIST)
    assert len(members) == 120
    m = members[sha256("firstlast4@gmail.com")]  # gmail dots removed before hashing
    assert m["hashedPhoneNumber"] == sha256("+12125650004")
    assert m["addressInfo"] == {"hashedFirstName": sha256("mary"), "hashedLastName": sha256("smith"),
                                "countryCode": "US", "postalCode": "10001"}  # fmt: skip
    assert sha256("user5@example.com") in members
    assert all(j["status"] == "SUCCESS" for j in sb.store()["jobs"].values())
    people.execute("DELETE FROM main.sync_people WHERE email IN ('user1@example.com', 'First.Last2@Gmail.com')")
    res = run_sync(cfg, con=people)
    assert (res.removed, res.acked) == (2, 2)
    ops = sb.recorded("POST")[-2]["body"]["operations"]
    assert {next(iter(o)) for o in ops} == {"remove"}
    assert len(sb.members(LIST)) == 118 and sha256("firstlast2@gmail.com") not in sb.members(LIST)


def test_partial_failure_rejects_operations(tmp_path: Path, sb: GoogleAdsSandbox, people) -> None:
    sb.inject("partial", keys=[sha256("user7@example.com")], message="user identifier refused")
    res = run_sync(_cfg(tmp_path, sb), con=people)
    assert (res.status, res.acked, res.rejected) == ("partial", 119, 1)
    (key, msg) = people.execute("SELECT key, last_error FROM outflow.sync_rejected_rows").fetchone()
    assert key == "user7@example.com" and msg == "INVALID_USER_IDENTIFIER: user identifier refused"
    assert all(o["body"]["enablePartialFailure"] for o in sb.recorded("POST") if "operations" in (o["body"] or {}))


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
