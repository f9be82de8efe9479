"""SMS through Twilio's Messaging API over real HTTP to its sandbox: one form-encoded message per recipient,
quiet hours in the recipient's time zone, Twilio's refusals (21610 unsubscribed, 21211 invalid number) per row,
and an account-level refusal that is not blamed on rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import polars as pl
import pytest

from activations.destinations.base import Record
from activations.destinations.twilio import TwilioSmsDestination
from activations.engine import run_sync
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from activations.sandboxes.twilio import TwilioSandbox
from outflow.errors import OutflowError

SID = "AC" + "1" * 32
FIELDS = {"phone": "to", "first_name": "vars.first_name", "time_zone": "time_zone", "country": "country"}


@pytest.fixture
def sb():
    with TwilioSandbox(token="twilio-auth-token", account_sid=SID) as s:
        yield s


@pytest.fixture
def trg(con):
    n = 12
    df = pl.DataFrame({
        "idempotency_key": [f"k{i}" for i in range(n)],
        "phone": [f"(212) 555-01{i:02d}" for i in range(n)],
        "first_name": [f"Ann{i}" for i in range(n)],
        "time_zone": ["UTC"] * n,
        "country": ["US"] * n,
        "channel": ["sms"] * n,
        "purpose": ["marketing"] * n,
    })  # fmt: skip
    con.write_arrow("main.trg_sms", df, mode="replace")
    return con


def _cfg(tmp_path: Path, sb: TwilioSandbox, monkeypatch, options: dict | None = None):
    monkeypatch.setenv("OUTFLOW_TEST_TWILIO", f"{SID}:twilio-auth-token")
    opts = {"from": "+15005550006", "body": "Hi {first_name}, your cart is waiting. Reply STOP to opt out.",
            "quiet_start_hour": 0, "quiet_end_hour": 0, **(options or {})}  # fmt: skip
    d = vendor_sync_dict("twilio_sms", sb.url, name="cart_sms", source="trg_sms", primary_key="idempotency_key",
                         mode="insert", fields=FIELDS, options=opts, secret_env="OUTFLOW_TEST_TWILIO",
                         obj="messages")  # fmt: skip
    return write_sync(tmp_path / "syncs", d)


def test_one_form_encoded_message_per_recipient(tmp_path: Path, sb: TwilioSandbox, trg, monkeypatch) -> None:
    res = run_sync(_cfg(tmp_path, sb, monkeypatch), con=trg)
    assert (res.status, res.acked) == ("success", 12)
    posts = sb.recorded("POST")
    assert len(posts) == 12 and all(p["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json" for p in posts)
    form = {k: v[0] for k, v in parse_qs(posts[0]["body"]).items()}
    assert form["From"] == "+15005550006" and form["To"].startswith("+1212555")
    assert form["Body"].startswith("Hi Ann") and form["Body"].endswith("Reply STOP to opt out.")
    assert {m["to"] for m in sb.messages} == {f"+121255501{i:02d}" for i in range(12)}
    res = run_sync(_cfg(tmp_path, sb, monkeypatch), con=trg)  # each key fires once
    assert res.to_send == 0 and len(sb.messages) == 12


def test_stop_reply_and_invalid_number_are_row_refusals(tmp_path: Path, sb: TwilioSandbox, trg, monkeypatch) -> None:
    sb.receive("+12125550103", "STOP")  # the recipient replied STOP (Twilio's Advanced Opt-Out)
    trg.execute("UPDATE main.trg_sms SET phone = '12' WHERE idempotency_key = 'k5'")
    res = run_sync(_cfg(tmp_path, sb, monkeypatch), con=trg)
    assert (res.status, res.acked, res.rejected) == ("partial", 10, 2)
    rej = dict(trg.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchall())
    # the consent ledger reads this form: code, the E.164 number, Twilio's message
    assert rej["k3"].startswith("21610 +12125550103: HTTP 400: Attempt to send to unsubscribed recipient")
    assert rej["k5"].startswith("21211")
    assert "+12125550103" not in {m["to"] for m in sb.messages}


def test_quiet_hours_in_the_recipients_time_zone(tmp_path: Path, sb: TwilioSandbox, monkeypatch) -> None:
    cfg = _cfg(tmp_path, sb, monkeypatch, {"quiet_start_hour": 21, "quiet_end_hour": 8})
    dest = TwilioSmsDestination(cfg, f"{SID}:twilio-auth-token")
    late_utc = dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.UTC)  # 23:30 UTC = 18:30 in New York
    assert dest.quiet_now(Record("a", "insert", {"time_zone": "UTC"}, "i"), late_utc)
    assert not dest.quiet_now(Record("a", "insert", {"time_zone": "America/New_York"}, "i"), late_utc)
    assert not dest.quiet_now(Record("a", "insert", {"time_zone": None}, "i"), late_utc)  # unknown: send
    dest.clock = lambda: late_utc  # the destination's own clock when none is given
    assert dest.quiet_now(Record("a", "insert", {"time_zone": "UTC"}, "i"))


def _at(hour: int, day: int = 26):  # noqa: ANN202
    return lambda: dt.datetime(2026, 11, day, hour, 30, tzinfo=dt.UTC)


def test_quiet_hours_defer_rows_to_the_next_run(tmp_path: Path, sb: TwilioSandbox, trg, monkeypatch) -> None:
    """A row in its recipient's quiet hours is deferred, not failed: the run succeeds, nothing is sent to that
    recipient, and a later run outside quiet hours (the run's clock) sends it, once."""
    cfg = _cfg(tmp_path, sb, monkeypatch, {"quiet_start_hour": 21, "quiet_end_hour": 8})
    trg.execute("UPDATE main.trg_sms SET time_zone = 'America/New_York' WHERE idempotency_key IN ('k0', 'k1', 'k2')")
    night = run_sync(cfg, con=trg, clock=_at(3))  # 03:30 UTC, 22:30 in New York: quiet everywhere
    assert (night.status, night.acked, night.rejected, night.deferred) == ("success", 0, 0, 12)
    why = "held: quiet hours in America/New_York; sent next run"  # the first deferred row's reason
    assert night.deferred_reason == why and not sb.messages
    assert night.outcome == f"success; 12 rows deferred ({why})"
    noon = run_sync(cfg, con=trg, clock=_at(12))  # 12:30 UTC, 07:30 in New York: quiet there only
    assert (noon.status, noon.to_send, noon.acked, noon.deferred) == ("success", 12, 9, 3)
    assert len(sb.messages) == 9 and "+12125550100" not in {m["to"] for m in sb.messages}
    later = run_sync(cfg, con=trg, clock=_at(14))  # 09:30 in New York: the deferred rows go
    assert (later.status, later.to_send, later.acked, later.deferred) == ("success", 3, 3, 0)
    assert sorted(m["to"] for m in sb.messages) == sorted(f"+121255501{i:02d}" for i in range(12))
    assert run_sync(cfg, con=trg, clock=_at(15)).to_send == 0  # each key fired once


def test_account_refusal_is_about_the_request(tmp_path: Path, sb: TwilioSandbox, monkeypatch) -> None:
    cfg = _cfg(tmp_path, sb, monkeypatch, {"from": "+15550000000"})
    dest = TwilioSmsDestination(cfg, f"{SID}:twilio-auth-token")
    r = httpx.post(f"{sb.url}/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, "twilio-auth-token"),
                   data={"To": "+12125550100", "From": "+15550000000", "Body": "x"})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (400, 21606)
    assert dest.refusal_scope(r) == "request"
    stop = httpx.Response(400, json={"code": 21610, "message": "Attempt to send to unsubscribed recipient"})
    assert dest.refusal_scope(stop) == "rows"
    assert dest.throttle_delay(httpx.Response(429, headers={"retry-after": "2"}, json={"code": 20429})) == 2.0
    # a JSON body is not what Twilio reads: its parameters are missing
    r = httpx.post(f"{sb.url}/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, "twilio-auth-token"),
                   json={"To": "+12125550100", "From": "+15005550006", "Body": "x"})  # fmt: skip
    assert r.json()["code"] == 21604
    assert httpx.post(f"{sb.url}/2010-04-01/Accounts/{SID}/Messages.json", data={"To": "x"}).json()["code"] == 20003


def test_config_errors_are_one_line(tmp_path: Path, sb: TwilioSandbox, monkeypatch) -> None:
    with pytest.raises(OutflowError, match="exactly one of from, messaging_service_sid"):
        TwilioSmsDestination(_cfg(tmp_path, sb, monkeypatch, {"from": ""}), f"{SID}:t")
    with pytest.raises(OutflowError, match=r"\{coupon\} is not a mapped field; map a column to vars.coupon"):
        TwilioSmsDestination(_cfg(tmp_path, sb, monkeypatch, {"body": "Use {coupon}"}), f"{SID}:t")
    with pytest.raises(OutflowError, match="quiet_start_hour: an hour 0 to 23"):
        TwilioSmsDestination(_cfg(tmp_path, sb, monkeypatch, {"quiet_start_hour": 25}), f"{SID}:t")
    with pytest.raises(OutflowError, match="AccountSid:AuthToken"):
        TwilioSmsDestination(_cfg(tmp_path, sb, monkeypatch), "no-colon")


def test_erasure_deletes_the_messages_sent_to_the_person(tmp_path: Path, sb: TwilioSandbox, trg, monkeypatch) -> None:
    import asyncio

    cfg = _cfg(tmp_path, sb, monkeypatch)
    assert run_sync(cfg, con=trg).acked == 12
    dest = TwilioSmsDestination(cfg, f"{SID}:twilio-auth-token")

    async def call(req):
        async with httpx.AsyncClient() as c:
            return await c.request(req.method, req.url, headers=req.headers, content=req.content)

    gone = Record("k0", "delete", {}, "i", ({"to": "+12125550100"},))
    unknown = Record("kx", "delete", {}, "i", ())
    out = asyncio.run(dest.erase(call, [gone, unknown]))
    assert [(r.key, r.ok) for r in out] == [("k0", True), ("kx", False)]
    assert "+12125550100" not in {m["to"] for m in sb.messages} and len(sb.messages) == 11
    assert dest.erasure == "delete messages"


def test_requests_and_answers_follow_twilio_spec(tmp_path: Path, sb: TwilioSandbox, trg, monkeypatch) -> None:
    """Twilio's own OpenAPI document (MIT, committed in tests/data/vendor-specs/twilio)."""
    from activations.sandboxes.spec import errors, request_validator_ct, response_validator

    monkeypatch.setenv("OUTFLOW_VENDOR_SPECS", str(Path(__file__).parents[2] / "data" / "vendor-specs"))
    rel, path = "twilio/twilio_api_v2010.json", "/2010-04-01/Accounts/{AccountSid}/Messages.json"
    form_schema = request_validator_ct(rel, path, "post", "application/x-www-form-urlencoded")
    answer_schema = response_validator(rel, path, "post", "201")
    cfg = _cfg(tmp_path, sb, monkeypatch, {"status_callback": "https://example.com/sms-status"})
    assert run_sync(cfg, con=trg).acked == 12
    for p in sb.recorded("POST"):
        form = {k: v[0] for k, v in parse_qs(p["body"]).items()}
        assert not errors(form_schema, form), errors(form_schema, form)
    assert errors(form_schema, {"Body": "no recipient"})  # the document requires To: the check can fail
    for m in sb.messages:
        present = {k: v for k, v in m.items() if v is not None}  # OpenAPI 3.0 `nullable` is not JSON Schema
        assert not errors(answer_schema, present), errors(answer_schema, present)
