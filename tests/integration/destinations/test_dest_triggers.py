"""Braze /users/track and Customer.io Track API v2 trigger events over real HTTP to their sandboxes."""

from __future__ import annotations

import base64
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from activations.destinations.triggers import ulid_from_key
from activations.engine import SyncFailed, run_sync
from activations.sandboxes.testing import make_triggers, vendor_sync_dict, write_sync
from activations.sandboxes.triggers import BrazeSandbox, CustomerIoSandbox
from outflow.errors import OutflowError
from tests.integration.destinations.conftest import TOKEN, need_spec

BRAZE = {"person_id": "external_id", "event_name": "name", "email": "properties.email"}
CIO = {"person_id": "id", "event_name": "name", "email": "properties.email"}


@pytest.fixture
def trg(con):
    make_triggers(con, rows=150)
    return con


def _cfg(tmp_path: Path, kind: str, url: str, fields: dict, **kw):
    name, mode = kw.pop("name", f"{kind}_welcome"), kw.pop("mode", "insert")
    d = vendor_sync_dict(
        kind, url, name=name, source="trg_welcome", primary_key="trigger_id", mode=mode, fields=fields, **kw
    )
    return write_sync(tmp_path / "syncs", d)


def test_braze_fires_once_per_key(tmp_path: Path, token: str, trg) -> None:
    with BrazeSandbox(token=TOKEN) as sb:
        cfg = _cfg(tmp_path, "braze", sb.url, BRAZE)
        res = run_sync(cfg, con=trg)
        assert (res.status, res.acked, res.requests) == ("success", 150, 2)  # 75 events per request
        ev = sb.events()
        assert len(ev) == 150 and ev[0]["name"] == "welcome" and ev[0]["external_id"] == "0"
        assert (
            ev[0]["properties"]["email"] == "user0@example.com" and len(ev[0]["properties"]["outflow_event_id"]) == 32
        )
        trg.execute("UPDATE main.trg_welcome SET email = 'x@example.com' WHERE person_id < 10")  # no refire
        trg.execute("INSERT INTO main.trg_welcome VALUES ('welcome-900', 900, 'n@example.com', 'welcome')")
        res = run_sync(cfg, con=trg)
        assert res.to_send == 1 and len(sb.events()) == 151


def test_braze_partial_429_and_auth(tmp_path: Path, token: str, trg, monkeypatch) -> None:
    with BrazeSandbox(token=TOKEN) as sb:
        sb.inject("partial", keys=["4"], message="user is blocked")
        sb.inject("status", code=429, retry_after="0.2", times=1)
        res = run_sync(_cfg(tmp_path, "braze", sb.url, BRAZE), con=trg)
        assert (res.status, res.acked, res.rejected, res.throttled) == ("partial", 149, 1, 1)
        rej = trg.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchall()
        assert rej == [("welcome-4", "user is blocked")]
        monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "braze-wrong")
        with pytest.raises(SyncFailed, match="refused the credentials") as exc:
            run_sync(_cfg(tmp_path, "braze", sb.url, BRAZE, name="b2"), con=trg)
        assert "braze-wrong" not in str(exc.value)


def test_customerio_idempotent_resend(tmp_path: Path, token: str, trg, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", f"site:{TOKEN}")
    with CustomerIoSandbox(token=TOKEN) as sb:
        sb.inject("slow", seconds=2.5, times=1)  # the answer is lost (client timeout 2 s): the batch is resent
        res = run_sync(_cfg(tmp_path, "customerio", sb.url, CIO), con=trg)
        assert res.status == "success" and res.acked == 150 and res.retries == 1
        time.sleep(1.0)  # let the slow first attempt land too
        ev = sb.events()
        assert len(ev) == 150  # de-duplicated by the ULID derived from the idempotency key
        assert sb.stats.get("duplicates_suppressed", 0) >= 1
        assert Counter(e["name"] for e in ev) == {"welcome": 150}
        first = next(e for e in ev if e["identifiers"] == {"id": "0"})
        assert first["attributes"] == {"email": "user0@example.com"} and len(first["id"]) == 26


def test_customerio_partial_and_auth(tmp_path: Path, token: str, trg, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", f"site:{TOKEN}")
    with CustomerIoSandbox(token=TOKEN) as sb:
        sb.inject("partial", keys=["8"], message="person is suppressed")
        res = run_sync(_cfg(tmp_path, "customerio", sb.url, CIO), con=trg)
        assert (res.acked, res.rejected) == (149, 1)
        monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "site:wrong")
        with pytest.raises(SyncFailed, match="refused the credentials"):
            run_sync(_cfg(tmp_path, "customerio", sb.url, CIO, name="c2"), con=trg)
        monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", "no-colon")
        with pytest.raises(OutflowError, match="must be site_id:api_key"):
            run_sync(_cfg(tmp_path, "customerio", sb.url, CIO, name="c3"), con=trg)


def test_ulid_is_stable_and_valid() -> None:
    u = ulid_from_key("f" * 32)
    assert u == ulid_from_key("f" * 32) and len(u) == 26 and u[0] in "01234567"


def test_customerio_incremental_and_429(tmp_path: Path, token: str, trg, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", f"site:{TOKEN}")
    with CustomerIoSandbox(token=TOKEN) as sb:
        sb.inject("status", code=429, retry_after="0.1", times=2)
        cfg = _cfg(tmp_path, "customerio", sb.url, CIO)
        res = run_sync(cfg, con=trg)
        assert (res.status, res.acked, res.throttled) == ("success", 150, 2) and len(sb.events()) == 150
        trg.execute("UPDATE main.trg_welcome SET email = 'x@example.com' WHERE person_id < 10")  # no refire
        trg.execute("INSERT INTO main.trg_welcome VALUES ('welcome-900', 900, 'n@example.com', 'welcome')")
        res = run_sync(cfg, con=trg)
        assert (res.to_send, res.acked, res.requests) == (1, 1, 1) and len(sb.events()) == 151
    with CustomerIoSandbox(token=TOKEN, rate_limit=(1, 0.3)) as sb:  # the fair-use limit, scaled down
        res = run_sync(_cfg(tmp_path, "customerio", sb.url, CIO, name="cio_rl", batch_size=50), con=trg)
        assert res.status == "success" and res.throttled >= 1 and sb.stats["rate_limited"] >= 1
        assert len(sb.events()) == 151


def test_braze_rate_limit_and_object_cap(tmp_path: Path, token: str, trg) -> None:
    with BrazeSandbox(token=TOKEN, rate_limit=(1, 0.3)) as sb:  # 3,000 per 3 s, scaled down
        res = run_sync(_cfg(tmp_path, "braze", sb.url, BRAZE, batch_size=50), con=trg)
        assert res.status == "success" and res.throttled >= 1 and len(sb.events()) == 150
        body = {"attributes": [{"external_id": str(i)} for i in range(40)],
                "events": [{"external_id": "1", "name": "x", "time": "2026-01-01T00:00:00Z"}] * 36}  # fmt: skip
    with BrazeSandbox(token=TOKEN) as sb:
        r = httpx.post(f"{sb.url}/users/track", json=body, headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 400 and "at most 75 attributes, events and purchases" in r.json()["message"]


@pytest.mark.parametrize("kind", ["braze", "customerio"])
def test_removal_does_not_apply_to_trigger_syncs(tmp_path: Path, token: str, trg, monkeypatch, kind) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", f"site:{TOKEN}")
    fields = {"person_id": "external_id" if kind == "braze" else "id", "email": "properties.email"}
    url = "http://127.0.0.1:9"  # never reached: the sync is refused before any data is read or sent
    d = vendor_sync_dict(kind, url, name=f"{kind}_mirror", primary_key="person_id", mode="mirror", fields=fields,
                         options={"event_name": "welcome"})  # fmt: skip
    with pytest.raises(OutflowError, match=r"mode: removal \(mirror\) does not apply to .* trigger events"):
        run_sync(write_sync(tmp_path / "syncs", d), con=trg)
    with pytest.raises(OutflowError, match="mode: mirror is for audiences"):  # and a trg_* model cannot mirror
        run_sync(_cfg(tmp_path, kind, url, BRAZE if kind == "braze" else CIO, mode="mirror"), con=trg)
    with pytest.raises(OutflowError, match="use mode: insert"):
        run_sync(_cfg(tmp_path, kind, url, BRAZE if kind == "braze" else CIO, mode="upsert", name="up"), con=trg)


def test_customerio_batches_follow_customerio_spec_when_present(tmp_path: Path, token: str, trg, monkeypatch) -> None:
    """Batches through a sandbox that validates them against Customer.io's own Track API document (a local copy:
    it is published without a licence to redistribute). A refused body fails the sync."""
    need_spec("customerio", "track.json")
    monkeypatch.setenv("OUTFLOW_TEST_VENDOR_TOKEN", f"site:{TOKEN}")
    with CustomerIoSandbox(token=TOKEN) as sb:
        res = run_sync(_cfg(tmp_path, "customerio", sb.url, CIO), con=trg)
        assert (res.status, res.acked) == ("success", 150)
        h = {"authorization": "Basic " + base64.b64encode(f"site:{TOKEN}".encode()).decode()}
        r = httpx.post(f"{sb.url}/api/v2/batch", json={"batch": "not a list"}, headers=h)
        assert r.status_code == 400 and "batch" in r.json()["meta"]["error"]
