"""SMS through Twilio's Programmable Messaging API: one message per recipient from a trigger model.

``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded (``To``, ``From`` or
``MessagingServiceSid``, ``Body`` of at most 1,600 characters, optional ``StatusCallback``), HTTP Basic auth
``AccountSid:AuthToken`` (the secret is ``AccountSid:AuthToken``; an API key ``SK...:secret`` with option
``account_sid`` works too). ``201`` answers the Message resource (``sid`` ``SM...``, ``status`` ``queued`` or
``accepted``); an error answers ``{"code", "message", "more_info", "status"}``.

Per row: ``to`` (the recipient's phone; normalized to E.164 with ``activations.hashing``, the row's
``country`` or option ``default_region`` reading a national number), ``body`` (or option ``body``, a template
filled with ``str.format`` from the row's ``vars.<name>`` fields), ``time_zone`` (IANA, for quiet hours).

Mode ``insert`` from a ``trg_*`` model whose channel is ``sms``: the engine's consent gate sends only people
with SMS consent, and each key fires once. Twilio has no idempotency key for messages: a request whose answer
is lost may be sent twice on retry, as Twilio documents.

Quiet hours: a row whose recipient's local time (``time_zone``, on the run's ``clock``) is between
``quiet_start_hour`` (default 21) and ``quiet_end_hour`` (default 8) is not sent: it is *deferred*
(``held: quiet hours in <zone>; sent next run``), neither sent nor failed, and the next run offers it again; a
row deferred longer than ``thresholds.max_deferral_hours`` is rejected instead (a trigger model usually holds such
rows already: ``send_after``).

Row refusals (``refusal_scope`` ``rows``): ``21610`` the recipient replied STOP (unsubscribed): the row is
rejected with ``21610 <E.164>: ...``, which the consent ledger reads (``int_consent__sms_opt_outs``) as an SMS
opt-out, so the person is never sent again; ``21211`` invalid ``To``, ``21614`` not a mobile number,
``21612``/``21408`` the number cannot be reached from this sender/region. Request refusals (``request``): auth
(``20003``), a ``From`` that is not yours or not SMS-capable (``21606``, ``21659``, ``21660``), a missing
sender (``21603``), a suspended account, and ``20429`` (too many requests).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import string
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from activations.destinations.base import (
    Call,
    Destination,
    PreparedRequest,
    Record,
    RowResult,
    answer_of,
    deferral,
)
from activations.hashing import country_code, normalize_phone_e164
from outflow.errors import OutflowError

OPT_OUT = 21610
REQUEST_CODES = frozenset({20003, 20005, 20429, 21603, 21606, 21659, 21660, 21704, 30002})
MAX_BODY = 1600


def _code(response: httpx.Response) -> int | None:
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


class TwilioSmsDestination(Destination):
    type = "twilio_sms"
    max_batch_size = 50  # one request per message; a batch is acknowledged together
    records_sent_identifiers = True
    erasure = "delete messages"

    def check_secret(self) -> None:
        if ":" not in self._secret:
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: destination.secret_env: the value of "
                f"{self.cfg.destination.secret_env} must be AccountSid:AuthToken"
            )

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        if self.cfg.mode.value != "insert":
            raise OutflowError(f"{where}: mode: an SMS is sent once and cannot be unsent; use mode: insert")
        values = set(self.cfg.fields.values())
        for src, f in self.cfg.fields.items():
            if f not in ("to", "body", "time_zone", "country") and not f.startswith("vars."):
                raise OutflowError(
                    f"{where}: fields.{src}: {f!r} must be one of to, body, time_zone, country, vars.<name>"
                )
        if "to" not in values:
            raise OutflowError(f"{where}: fields: map the recipient's phone column to to")
        self.body_template = self.option("body")
        if "body" not in values and not self.body_template:
            raise OutflowError(f"{where}: fields: map a column to body, or set destination.options.body")
        if self.body_template:
            names = {f[5:] for f in values if f.startswith("vars.")}
            try:
                wanted = {n for _, n, _, _ in string.Formatter().parse(str(self.body_template)) if n is not None}
            except ValueError as exc:
                raise OutflowError(f"{where}: destination.options.body: {exc}") from None
            if missing := sorted(wanted - names):
                raise OutflowError(
                    f"{where}: destination.options.body: {{{missing[0]}}} is not a mapped field; map a column to "
                    f"vars.{missing[0]}"
                )
        self.sender = self.option("from")
        self.service = self.option("messaging_service_sid")
        if bool(self.sender) == bool(self.service):
            raise OutflowError(f"{where}: destination.options: set exactly one of from, messaging_service_sid")
        self.account_sid = str(self.option("account_sid") or self._secret.split(":", 1)[0])
        self.default_region = self.option("default_region")
        self.status_callback = self.option("status_callback")
        self.quiet = (self._hour("quiet_start_hour", 21), self._hour("quiet_end_hour", 8))

    def _hour(self, name: str, default: int) -> int:
        value = self.option(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
            raise OutflowError(f"{self.cfg.path or self.cfg.name}: destination.options.{name}: an hour 0 to 23")
        return value

    # --- one message ----------------------------------------------------------------------------------------
    def check_request(self) -> PreparedRequest:
        """``GET /2010-04-01/Accounts/{AccountSid}.json``: the account resource."""
        url = f"{self.cfg.destination.base_url}/2010-04-01/Accounts/{self.account_sid}.json"
        return PreparedRequest("GET", url, self._headers())

    def _headers(self) -> dict[str, str]:
        auth = base64.b64encode(self._secret.encode()).decode()
        return {"authorization": f"Basic {auth}", "content-type": "application/x-www-form-urlencoded"}

    def _to(self, r: Record) -> str:
        region = country_code(str(r.fields.get("country") or "")) or self.default_region
        return normalize_phone_e164(r.fields.get("to"), region)

    def _body(self, r: Record) -> str:
        if r.fields.get("body"):
            return str(r.fields["body"])
        values = {
            k.removeprefix("vars."): ("" if v is None else v) for k, v in r.fields.items() if k.startswith("vars.")
        }
        return str(self.body_template).format_map(values)

    def quiet_now(self, r: Record, now: dt.datetime | None = None) -> bool:
        """Whether it is quiet hours in the recipient's time zone at ``now`` (default: the destination's
        ``clock``); an unknown zone is not quiet."""
        tz = r.fields.get("time_zone")
        if not tz:
            return False
        try:
            local = (now or self.clock()).astimezone(ZoneInfo(str(tz)))
        except (ZoneInfoNotFoundError, ValueError):
            return False
        start, end = self.quiet
        return local.hour >= start or local.hour < end if start > end else start <= local.hour < end

    def sent_identifiers(self, record: Record) -> list[Any]:
        to = self._to(record)
        return [{"to": to}] if to else []

    def message_request(self, r: Record) -> PreparedRequest:
        form = {"To": self._to(r), "Body": self._body(r)}
        if self.sender:
            form["From"] = str(self.sender)
        else:
            form["MessagingServiceSid"] = str(self.service)
        if self.status_callback:
            form["StatusCallback"] = str(self.status_callback)
        url = f"{self.cfg.destination.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return PreparedRequest("POST", url, self._headers(), urlencode(form).encode())

    def build_request(self, records: list[Record]) -> PreparedRequest:
        return self.message_request(records[0])

    def request_bytes(self, records: list[Record]) -> int:
        return max((len(self.message_request(r).content) for r in records), default=0)

    async def _send(self, call: Call, r: Record) -> RowResult | httpx.Response:
        to = self._to(r)
        if not to:
            return RowResult(r.key, False, "21211: no valid E.164 phone number for this row")
        body = self._body(r)
        if not body or len(body) > MAX_BODY:
            return RowResult(r.key, False, f"body must be 1 to {MAX_BODY} characters (got {len(body)})")
        if self.quiet_now(r):
            return deferral(r.key, f"held: quiet hours in {r.fields.get('time_zone')}; sent next run")
        resp = await call(self.message_request(r))
        if resp.status_code in (200, 201):
            return self.parse_response(resp, [r])[0]
        if self.refusal_scope(resp) == "request":
            return resp
        code = _code(resp)
        if code == OPT_OUT:
            return RowResult(
                r.key, False, f"{OPT_OUT} {to}: {self.error_message(resp)} (opted out: SMS consent revoked)"
            )
        return RowResult(r.key, False, f"{code or resp.status_code} {to}: {self.error_message(resp)}")

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        answers = await asyncio.gather(*(self._send(call, r) for r in records))
        refused = [a for a in answers if isinstance(a, httpx.Response)]
        if refused and not any(isinstance(a, RowResult) and a.ok for a in answers):
            return refused[0]  # refused for the account or the sender, not a row: the deliverer decides
        # some messages went: they are acknowledged (never sent twice); the refused ones are rejected
        return [a if isinstance(a, RowResult) else RowResult(r.key, False, self.error_message(a))
                for r, a in zip(records, answers, strict=True)]  # fmt: skip

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """Delete the messages sent to the person's number: ``GET .../Messages.json?To=<number>&PageSize=1000``
        (following ``next_page_uri``), then ``DELETE .../Messages/{sid}.json`` for each (204; 404: gone).
        A row whose number was never recorded cannot be addressed and is refused."""
        base = f"{self.cfg.destination.base_url}/2010-04-01/Accounts/{self.account_sid}"
        headers = {"authorization": self._headers()["authorization"]}
        done: dict[str, str | None] = {}
        out = []
        for r in records:
            numbers = [str(s["to"]) for s in r.sent if s.get("to")]
            if not numbers:
                out.append(RowResult(r.key, False, "no phone number was recorded for this message"))
                continue
            for to in numbers:
                if to not in done:
                    done[to] = await self._delete_messages(call, base, headers, to)
            errors = [done[to] for to in numbers if done[to]]
            out.append(RowResult(r.key, not errors, errors[0] if errors else None))
        return out

    async def _delete_messages(self, call: Call, base: str, headers: dict[str, str], to: str) -> str | None:
        """None when every message to ``to`` is deleted, else the error."""
        url: str | None = f"{base}/Messages.json?{urlencode({'To': to, 'PageSize': 1000})}"
        while url:
            page = await call(PreparedRequest("GET", url, headers))
            if page.status_code != 200:
                return self.error_message(page)
            body = answer_of(page)
            for m in body.get("messages") or []:
                resp = await call(PreparedRequest("DELETE", f"{base}/Messages/{m['sid']}.json", headers))
                if resp.status_code not in (204, 404):
                    return self.error_message(resp)
            nxt = body.get("next_page_uri")
            url = f"{self.cfg.destination.base_url}{nxt}" if nxt else None
        return None

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        body = answer_of(response)
        sid = str(body.get("sid", "")) if isinstance(body, dict) else ""
        if not sid.startswith(("SM", "MM")) or body.get("status") in ("failed", "undelivered"):
            msg = f"unexpected answer {str(body)[:120]}"
            return [RowResult(r.key, False, msg) for r in records]
        return [RowResult(r.key, True, f"message {sid}") for r in records]

    # --- errors ---------------------------------------------------------------------------------------------
    def refusal_scope(self, response: httpx.Response) -> Literal["rows", "request"]:
        code = _code(response)
        if response.status_code in (401, 403, 429) or code in REQUEST_CODES:
            return "request"
        return "rows"

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """Twilio answers 429 (code 20429) and, on some products, ``Retry-After`` in seconds."""
        if response.status_code != 429:
            return None
        try:
            return float(response.headers.get("retry-after", ""))
        except ValueError:
            return None
