"""Klaviyo over real HTTP to its sandbox (JSON:API bodies checked against Klaviyo's OpenAPI spec)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.engine import SyncFailed, run_sync
from activations.sandboxes.klaviyo import KlaviyoSandbox
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


def _cfg(tmp_path: Path, sb: KlaviyoSandbox, **kw):
    d = vendor_sync_dict("klaviyo", sb.url, options={"list_id": LIST}, fields=FIELDS, **kw)
    return write_sync(tmp_path / "syncs", d)


def _model(con) -> dict[str, tuple]:
    rows = con.execute("SELECT email, first_name, score FROM main.sync_contacts").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _members(sb: KlaviyoSandbox) -> dict[str, tuple]:
    return {e: (p["first_name"], p["properties"]["score"]) for e, p in sb.list_members(LIST).items()}


def test_full_incremental_and_mirror_removal(tmp_path: Path, sb: KlaviyoSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb)
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.requests) == ("success", 200, 2)
    assert _members(sb) == _model(con)
    job = sb.recorded("POST", "/api/profile-bulk-import-jobs")[0]["body"]["data"]
    assert job["type"] == "profile-bulk-import-job"
    assert job["relationships"]["lists"]["data"] == [{"type": "list", "id": LIST}]
    attrs = {"email": "user1@example.com", "first_name": "name1", "properties": {"score": 7}}
    assert job["attributes"]["profiles"]["data"][1] == {"type": "profile", "attributes": attrs}
    con.execute("UPDATE main.sync_contacts SET score = -1 WHERE person_id < 10")
    con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 190")
    res = run_sync(cfg, con=con)
    assert (res.changed, res.removed, res.acked) == (10, 10, 20)
    assert _members(sb) == _model(con)
    assert len(sb.store()["profiles"]) == 200  # profiles stay in Klaviyo; only list membership goes
    lookup = sb.recorded("GET", "/api/profiles")[0]["query"]["filter"][0]
    assert lookup.startswith('any(email,["user19') and '"user190@example.com"' in lookup
    assert run_sync(cfg, con=con).requests == 0


def test_row_errors_rejected_rest_resent(tmp_path: Path, sb: KlaviyoSandbox, con) -> None:
    sb.inject("partial", keys=["user3@example.com", "user150@example.com"], message="profile is suppressed")
    res = run_sync(_cfg(tmp_path, sb), con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 198, 2)
    rej = dict(con.execute("SELECT key, last_error FROM outflow.sync_rejected_rows").fetchall())
    assert rej == {"user3@example.com": "Invalid input.: profile is suppressed",
                   "user150@example.com": "Invalid input.: profile is suppressed"}  # fmt: skip
    assert len(_members(sb)) == 198


def test_revision_header_and_content_type_sent(tmp_path: Path, sb: KlaviyoSandbox, con) -> None:
    cfg = _cfg(tmp_path, sb, destination={"options": {"list_id": LIST, "revision": "2026-07-15"}})
    assert run_sync(cfg, con=con).acked == 200
    assert sb.stats.get("refused", 0) == 0 and sb.stats.get("schema_refused", 0) == 0


def test_429_honours_retry_after_and_real_rate_limit(tmp_path: Path, token: str, con) -> None:
    with KlaviyoSandbox(token=TOKEN, rate_limit=(2, 1.0)) as sb:  # tiny bucket: 2 requests, 2/s
        cfg = _cfg(tmp_path, sb, batch_size=25)  # 8 requests
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
