"""Twilio Programmable Messaging sandbox: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

As Twilio's reference describes: HTTP Basic auth ``AccountSid:AuthToken`` (401, code 20003, otherwise), the
path's account must be the authenticated one (20003); a form-encoded body (a JSON body is not read: its
parameters are missing); ``To`` required (21604) and a valid E.164 number (21211); exactly one sender,
``From`` (21603 if neither; 21606 if it is not one of the account's numbers) or ``MessagingServiceSid``
(``MG`` + 32 hex); ``Body`` required (21602) and at most 1,600 characters (21617); a recipient who replied
STOP is refused with 21610 until they reply START. ``201`` answers the Message resource (``sid`` ``SM``+32
hex, ``status: queued``). Errors answer ``{"code", "message", "more_info", "status"}``.

``receive(from_, body)`` plays an inbound message to the account's number the way Twilio's Advanced Opt-Out
does: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT opt the sender out; START, YES, UNSTOP opt them back in.
``opted_out`` holds the numbers opted out. Rate: Twilio's REST API takes 100 concurrent requests per account
(then 429, code 20429); with ``real_rate_limit`` the sandbox allows 100 requests per second.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any
from urllib.parse import parse_qs

import phonenumbers

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}  # fmt: skip


class TwilioSandbox(VendorSandbox):
    name = "twilio_sms"
    default_rate_limit = (100.0, 1.0)

    def __init__(self, *, account_sid: str = "AC" + "0" * 32, numbers: tuple[str, ...] = ("+15005550006",),
                 **kw: Any) -> None:  # fmt: skip
        self.account_sid = account_sid
        self.numbers = set(numbers)
        super().__init__(**kw)

    def account(self, req: Request) -> Response:
        """``GET /2010-04-01/Accounts/{AccountSid}.json``: the account resource."""
        sid = req.params["sid"]
        return Response(200, {"sid": sid, "status": "active", "type": "Full", "friendly_name": "Outflow sandbox"})

    def routes(self) -> list[Route]:
        acct = r"/2010-04-01/Accounts/(?P<sid>AC[0-9a-fA-F]{32})"
        return [
            ("POST", rf"{acct}/Messages\.json", self.create),
            ("GET", rf"{acct}\.json", self.account),
            ("GET", rf"{acct}/Messages\.json", self.list_messages),
            ("DELETE", rf"{acct}/Messages/(?P<msg>(SM|MM)[0-9a-f]{{32}})\.json", self.delete_message),
        ]

    def credentials(self, cfg: Any) -> dict[str, str]:
        return {cfg.destination.secret_env: f"{self.account_sid}:{self.token}"}

    def authorized(self, req: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.token}".encode()).decode()
        return req.headers.get("authorization") == f"Basic {expected}"

    def auth_error(self) -> Response:
        return Response(401, _error(401, 20003, "Authenticate"))

    def rate_limited(self, wait: float) -> Response:
        return Response(429, _error(429, 20429, "Too Many Requests"))

    def fault_response(self, code: int, message: str | None) -> Any:
        return _error(code, 20500 if code >= 500 else code, message or f"injected {code}")

    def reset_store(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.opted_out: set[str] = set()

    def store(self) -> Any:
        return {"messages": self.messages, "opted_out": sorted(self.opted_out)}

    def receive(self, from_: str, body: str) -> None:
        """An inbound SMS from ``from_`` (E.164) to the account: STOP/START keywords change the opt-out."""
        word = body.strip().upper()
        with self.lock:
            if word in STOP_WORDS:
                self.opted_out.add(from_)
            elif word in START_WORDS:
                self.opted_out.discard(from_)

    def create(self, req: Request) -> Response:
        if req.params["sid"] != self.account_sid:
            raise SandboxError(401, _error(401, 20003, "Authenticate"))
        form = {k: v[0] for k, v in parse_qs(req.body.decode(errors="replace")).items()} if req.body else {}
        if "application/x-www-form-urlencoded" not in req.headers.get("content-type", ""):
            form = {}
        to, sender, service, body = form.get("To"), form.get("From"), form.get("MessagingServiceSid"), form.get("Body")
        if not to:
            raise SandboxError(400, _error(400, 21604, "A 'To' phone number is required."))
        if not sender and not service:
            raise SandboxError(400, _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required."))
        if service and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
            raise SandboxError(400, _error(400, 21703, "The Messaging Service Sid is invalid."))
        if sender and sender not in self.numbers:
            msg = f"The 'From' phone number provided ({sender}) is not a valid message-capable Twilio phone number."
            raise SandboxError(400, _error(400, 21606, msg))
        if not body:
            raise SandboxError(400, _error(400, 21602, "Message body is required."))
        if len(body) > 1600:
            raise SandboxError(
                400, _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
            )
        try:
            num = phonenumbers.parse(to, None)
            valid = to.startswith("+") and phonenumbers.is_valid_number(num)
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            raise SandboxError(400, _error(400, 21211, f"Invalid 'To' Phone Number: {to}"))
        if to in self.opted_out or to in self.faults.partial_keys:
            raise SandboxError(400, _error(400, 21610, "Attempt to send to unsubscribed recipient"))
        sid = "SM" + uuid.uuid4().hex
        msg = {"sid": sid, "account_sid": self.account_sid, "to": to, "from": sender,
               "messaging_service_sid": service, "body": body, "status": "queued", "direction": "outbound-api",
               "api_version": "2010-04-01", "num_segments": str(-(-len(body) // 153) if len(body) > 160 else 1),
               "error_code": None, "error_message": None,
               "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"}  # fmt: skip
        with self.lock:
            self.messages.append(msg)
            self.stats["rows_applied"] += 1
        return Response(201, msg)

    def list_messages(self, req: Request) -> Response:
        """``GET Messages.json`` filtered by ``To``, newest first, ``PageSize`` at most 1000 (one page here)."""
        to = req.q("To")
        size = min(int(req.q("PageSize") or 50), 1000)
        with self.lock:
            found = [m for m in reversed(self.messages) if to is None or m["to"] == to][:size]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return Response(200, {"messages": found, "page": 0, "page_size": size, "uri": uri, "next_page_uri": None})

    def delete_message(self, req: Request) -> Response:
        """``DELETE Messages/{sid}.json``: 204, or 404 (code 20404) when there is no such message."""
        with self.lock:
            before = len(self.messages)
            self.messages = [m for m in self.messages if m["sid"] != req.params["msg"]]
            if len(self.messages) == before:
                raise SandboxError(404, _error(404, 20404, "The requested resource was not found"))
            self.stats["rows_deleted"] += 1
        return Response(204, None)
