"""Mailchimp Marketing sandbox: batch subscribe/update (``POST /3.0/lists/{id}``) and archive (``DELETE
/3.0/lists/{id}/members/{hash}``). Errors use Mailchimp's problem+json shape; members are keyed by the MD5
subscriber hash of the lower-cased email, as Mailchimp does.

Limits: Mailchimp publishes one throttle, 10 simultaneous connections per API key, answered ``429 Too Many
Requests`` beyond that (``max_connections``; on with ``real_rate_limit=True``, or given explicitly). It
publishes no per-second figure; ``real_rate_limit`` also applies 10 requests/s, in the spirit of 10
connections each busy about a second. ``latency`` makes every call take that long (to exercise the
connection limit in tests).
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import time
from typing import Any

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox
from activations.sandboxes.spec import errors as spec_errors
from activations.sandboxes.spec import have_spec, request_validator

# Mailchimp's Marketing API document (Swagger 2.0, https://api.mailchimp.com/schema/3.0/Swagger.json?expand) is
# published without a licence to redistribute it: bodies are validated against it only when a local copy sits
# in the vendor-specs folder (env OUTFLOW_VENDOR_SPECS) as mailchimp/marketing.json.
SPEC = "mailchimp/marketing.json"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_STATUSES = {"subscribed", "pending", "unsubscribed", "cleaned", "transactional"}
_MEMBER_KEYS = {
    "email_address",
    "email_type",
    "status",
    "status_if_new",
    "merge_fields",
    "interests",
    "language",
    "vip",
    "location",
    "tags",
    "ip_signup",
    "timestamp_signup",
    "ip_opt",
    "timestamp_opt",
}


def _problem(status: int, title: str, detail: str) -> SandboxError:
    doc = "https://mailchimp.com/developer/marketing/docs/errors/"
    return SandboxError(status, {"type": doc, "title": title, "status": status, "detail": detail, "instance": ""})


class MailchimpSandbox(VendorSandbox):
    name = "mailchimp"
    default_rate_limit = (10.0, 1.0)  # no published per-second figure: 10/s in the spirit of 10 connections
    published_connections = 10

    def __init__(self, *, max_connections: int | None = None, latency: float = 0.0, **kw: Any) -> None:
        real = kw.get("real_rate_limit", False)
        self.max_connections = max_connections or (self.published_connections if real else None)
        self.latency = latency
        self.in_flight = 0
        super().__init__(**kw)

    def handle(self, req: Request, conn: socket.socket) -> Response | None:
        if req.path.startswith("/_sandbox"):
            return super().handle(req, conn)
        with self.lock:
            self.in_flight += 1
            busy = self.max_connections is not None and self.in_flight > self.max_connections
        try:
            if busy:
                self.count("requests")
                self.count("rate_limited")
                detail = f"You have exceeded the limit of {self.max_connections} simultaneous connections."
                return _problem(429, "Too Many Requests", detail).response
            if self.latency:
                time.sleep(self.latency)
            return super().handle(req, conn)
        finally:
            with self.lock:
                self.in_flight -= 1

    def ping(self, req: Request) -> Response:
        """``GET /ping``: Mailchimp's health check (authenticated)."""
        return Response(200, {"health_status": "Everything's Chimpy!"})

    def routes(self) -> list[Route]:
        return [
            ("GET", r"(?:/3\.0)?/ping", self.ping),
            ("POST", r"(?:/3\.0)?/lists/(?P<id>\w+)", self.batch),
            ("DELETE", r"(?:/3\.0)?/lists/(?P<id>\w+)/members/(?P<hash>[0-9a-f]{32})", self.archive),
            (
                "POST",
                r"(?:/3\.0)?/lists/(?P<id>\w+)/members/(?P<hash>[0-9a-f]{32})/actions/delete-permanent",
                self.delete_permanent,
            ),
            ("GET", r"(?:/3\.0)?/lists/(?P<id>\w+)/members", self.list_members_page),
        ]

    def authorized(self, req: Request) -> bool:
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            return base64.b64decode(auth[6:]).decode().split(":", 1)[1] == self.token
        except (ValueError, IndexError):
            return False

    def auth_error(self) -> Response:
        detail = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
        return _problem(401, "API Key Invalid", detail).response

    def rate_limited(self, wait: float) -> Response:
        return _problem(429, "Too Many Requests", "You have exceeded the request rate.").response

    def throttle_headers(self, wait: float) -> dict[str, str]:
        """Mailchimp answers a throttle with a 429 problem document and no rate-limit or Retry-After header."""
        return {}

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"title": "Injected", "status": code, "detail": message or f"injected {code}"}

    def reset_store(self) -> None:
        self.lists: dict[str, dict[str, dict[str, Any]]] = {}
        self.deleted: set[str] = set()  # subscriber hashes permanently deleted

    def store(self) -> Any:
        return self.lists

    def members(self, list_id: str, status: str | None = None) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {
                m["email_address"]: dict(m)
                for m in self.lists.get(list_id, {}).values()
                if status is None or m["status"] == status
            }

    def batch(self, req: Request) -> Response:
        body = req.json()
        if have_spec(SPEC) and (problems := spec_errors(request_validator(SPEC, "/lists/{list_id}", "post"), body)):
            detail = "The resource submitted could not be validated: " + "; ".join(problems)
            raise _problem(400, "Invalid Resource", detail)
        members = body.get("members") if isinstance(body, dict) else None
        if not isinstance(members, list) or not members:
            raise _problem(400, "Invalid Resource", "members is required")
        if len(members) > 500:
            raise _problem(400, "Invalid Resource", "at most 500 members per batch")
        new, updated, errors = [], [], []
        with self.lock:
            lst = self.lists.setdefault(req.params["id"], {})
            for m in members:
                email = str(m.get("email_address", "")).lower()
                unknown = set(m) - _MEMBER_KEYS
                status = m.get("status") or m.get("status_if_new")
                if unknown:
                    errors.append(
                        {
                            "email_address": email,
                            "error": f"unknown keys {sorted(unknown)}",
                            "error_code": "ERROR_GENERIC",
                        }
                    )
                elif not _EMAIL.match(email):
                    errors.append({"email_address": email, "error": "invalid email", "error_code": "ERROR_GENERIC"})
                elif status not in _STATUSES:
                    errors.append({"email_address": email, "error": "invalid status", "error_code": "ERROR_GENERIC"})
                elif email in self.faults.partial_keys:
                    errors.append(
                        {
                            "email_address": email,
                            "error": self.faults.partial_keys[email],
                            "error_code": "ERROR_CONTACT_EXISTS",
                        }
                    )
                else:
                    h = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
                    cur = lst.get(h)
                    if cur is not None and not body.get("update_existing"):
                        errors.append(
                            {
                                "email_address": email,
                                "error": "member exists",
                                "error_code": "ERROR_CONTACT_EXISTS",
                            }
                        )
                        continue
                    merged = {**(cur or {}), **{k: v for k, v in m.items() if k != "status_if_new"}}
                    merged["email_address"] = email
                    kept = cur["status"] if cur and cur["status"] != "archived" else None
                    merged["status"] = m.get("status") or kept or m["status_if_new"]
                    lst[h] = merged
                    (updated if cur else new).append({"id": h, "email_address": email, "status": merged["status"]})
            self.stats["rows_applied"] += len(new) + len(updated)
        return Response(
            200,
            {
                "new_members": new,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(new),
                "total_updated": len(updated),
                "error_count": len(errors),
            },
        )

    def archive(self, req: Request) -> Response:
        with self.lock:
            m = self.lists.get(req.params["id"], {}).get(req.params["hash"])
            if m is None:
                raise _problem(404, "Resource Not Found", "The requested resource could not be found.")
            m["status"] = "archived"
            self.stats["rows_removed"] += 1
        return Response(204)

    def delete_permanent(self, req: Request) -> Response:
        """Mailchimp's permanent deletion: the member and its history are gone (it cannot be re-imported);
        204, or 404 when the list holds no such member."""
        with self.lock:
            lst = self.lists.get(req.params["id"], {})
            if lst.pop(req.params["hash"], None) is None:
                raise _problem(404, "Resource Not Found", "The requested resource could not be found.")
            self.deleted.add(req.params["hash"])
            self.stats["rows_deleted"] += 1
        return Response(204)

    def list_members_page(self, req: Request) -> Response:
        """``GET /lists/{id}/members?count=&offset=`` (count at most 1000, Mailchimp's cap)."""
        count, offset = int(req.q("count") or 10), int(req.q("offset") or 0)
        if count > 1000:
            raise _problem(400, "Invalid Resource", "count must be at most 1000")
        with self.lock:
            lst = self.lists.get(req.params["id"])
            if lst is None:
                raise _problem(404, "Resource Not Found", "The requested resource could not be found.")
            members = [{"id": h, "email_address": m["email_address"], "status": m["status"]} for h, m in lst.items()]
        return Response(200, {"members": members[offset : offset + count], "list_id": req.params["id"],
                              "total_items": len(members)})  # fmt: skip
