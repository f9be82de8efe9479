"""Braze ``/users/track`` and Customer.io ``/api/v2/batch`` sandboxes (trigger events).

Published limits enforced with ``real_rate_limit=True``: Braze ``/users/track`` 3,000 requests per 3 seconds
per workspace, and at most 75 objects (``attributes``, ``events`` and ``purchases`` together) per request;
Customer.io's Track API fair-use limit of 100 requests per second (v1 and v2), 500 KB per batch request and
32 KB per item. Over the rate both answer 429.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox
from activations.sandboxes.spec import errors as spec_errors
from activations.sandboxes.spec import have_spec, request_validator, spec_paths

# Customer.io's Track API OpenAPI document is published on its documentation site without a licence to
# redistribute it: batch bodies are validated against it only when a local copy sits in the vendor-specs folder
# (env OUTFLOW_VENDOR_SPECS) as customerio/track.json. Braze publishes no machine-readable spec.
CIO_SPEC = "customerio/track.json"

_ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


class BrazeSandbox(VendorSandbox):
    """Records every event as received (Braze does not de-duplicate); ``events()`` lists them."""

    name = "braze"
    default_rate_limit = (3000.0, 3.0)  # /users/track: 3,000 requests per 3 seconds

    def routes(self) -> list[Route]:
        return [("POST", r"/users/track", self.track), ("POST", r"/users/delete", self.delete_users)]

    def auth_error(self) -> Response:
        return Response(401, {"message": "Invalid API key: the key is not valid"})

    def rate_limited(self, wait: float) -> Response:
        return Response(429, {"message": "Rate limit exceeded"}, {"retry-after": f"{max(wait, 0.001):.3f}"})

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"message": message or f"injected {code}"}

    def reset_store(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.deleted_users: set[str] = set()

    def store(self) -> Any:
        return {"events": self.received}

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received)

    def track(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not any(k in body for k in ("attributes", "events", "purchases")):
            msg = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
            raise SandboxError(400, {"message": msg})
        events = body.get("events", [])
        total = sum(len(body.get(k) or []) for k in ("attributes", "events", "purchases"))
        if total > 75:
            msg = f"Too many objects: at most 75 attributes, events and purchases together per request (got {total})"
            raise SandboxError(400, {"message": msg})
        errors, ok = [], []
        for i, e in enumerate(events):
            who = e.get("external_id") or e.get("braze_id") or e.get("user_alias") or e.get("email")
            if not who:
                errors.append({"type": "'external_id', 'braze_id', 'user_alias' or 'email' is required",
                               "input_array": "events", "index": i})  # fmt: skip
            elif not e.get("name") or not e.get("time"):
                errors.append({"type": "'name' and 'time' are required", "input_array": "events", "index": i})
            elif str(who) in self.faults.partial_keys:
                errors.append({"type": self.faults.partial_keys[str(who)], "input_array": "events", "index": i})
            else:
                ok.append(e)
        if events and not ok:
            raise SandboxError(400, {"message": "No valid events", "errors": errors})
        with self.lock:
            self.received.extend(ok)
            self.stats["rows_applied"] += len(ok)
        out: dict[str, Any] = {"message": "success", "events_processed": len(ok)}
        if errors:
            out["errors"] = errors
        return Response(201, out)

    def delete_users(self, req: Request) -> Response:
        """``POST /users/delete``: exactly one of external_ids, user_aliases, braze_ids, email_addresses or
        phone_numbers, at most 50; 201 ``{"deleted": n, "message": "success"}``. The user's events go too."""
        body = req.json()
        kinds = [k for k in ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
                 if isinstance(body, dict) and body.get(k)]  # fmt: skip
        if len(kinds) != 1:
            return Response(400, {"message": "exactly one of external_ids, user_aliases, braze_ids, "
                                             "email_addresses or phone_numbers is required"})  # fmt: skip
        ids = [str(x) for x in body[kinds[0]]]
        if len(ids) > 50:
            return Response(400, {"message": "at most 50 users per request"})
        with self.lock:
            before = len(self.received)
            self.received = [e for e in self.received if str(e.get("external_id")) not in ids]
            self.deleted_users |= set(ids)
            self.stats["rows_deleted"] += len(ids)
            removed = before - len(self.received)
        return Response(201, {"deleted": len(ids), "events_dropped": removed, "message": "success"})


class CustomerIoSandbox(VendorSandbox):
    """De-duplicates events by their ULID ``id`` as Customer.io does; ``events()`` lists the unique ones."""

    name = "customerio"
    default_rate_limit = (100.0, 1.0)  # Track API fair-use limit: 100 requests/s

    def rate_limited(self, wait: float) -> Response:
        return Response(429, {"meta": {"error": "Too Many Requests"}}, {"retry-after": f"{max(wait, 0.001):.3f}"})

    def __init__(self, *, site_id: str = "site", **kw: Any) -> None:
        self.site_id = site_id
        super().__init__(**kw)

    def routes(self) -> list[Route]:
        return [
            ("POST", r"/api/v2/batch", self.batch),
            ("DELETE", r"/api/v1/customers/(?P<id>[^/]+)", self.delete_person),
            ("GET", r"/api/v1/accounts/region", self.region),
        ]

    def region(self, req: Request) -> Response:
        """``GET /api/v1/accounts/region``: the region, its Track URL and the workspace of the credentials."""
        return Response(200, {"url": "https://track.customer.io", "region": "us", "environment_id": 1})

    def credentials(self, cfg: Any) -> dict[str, str]:
        return {cfg.destination.secret_env: f"{self.site_id}:{self.token}"}

    def authorized(self, req: Request) -> bool:
        expected = base64.b64encode(f"{self.site_id}:{self.token}".encode()).decode()
        return req.headers.get("authorization") == f"Basic {expected}"

    def auth_error(self) -> Response:
        return Response(401, {"meta": {"error": "Unauthorized request"}})

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"meta": {"error": message or f"injected {code}"}}

    def reset_store(self) -> None:
        self.received: dict[str, dict[str, Any]] = {}
        self.deleted_people: set[str] = set()

    def store(self) -> Any:
        return {"events": self.received}

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received.values())

    def batch(self, req: Request) -> Response:
        if len(req.body) > 500 * 1024:
            raise SandboxError(413, {"meta": {"error": "batch larger than 500KB"}})
        body = req.json()
        if have_spec(CIO_SPEC):
            path = next((p for p in ("/api/v2/batch", "/v2/batch") if p in spec_paths(CIO_SPEC)), "/api/v2/batch")
            if problems := spec_errors(request_validator(CIO_SPEC, path, "post"), body):
                raise SandboxError(400, {"meta": {"error": "; ".join(problems)}})
        items = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise SandboxError(400, {"meta": {"error": "batch is required"}})
        errors = []
        with self.lock:
            for i, it in enumerate(items):
                ids = it.get("identifiers") or {}
                problem = None
                if it.get("type") != "person" or it.get("action") != "event":
                    problem = ("invalid", "type must be person and action event")
                elif len(ids) != 1 or next(iter(ids)) not in ("id", "email", "cio_id"):
                    problem = ("invalid", "identifiers must hold exactly one of id, email, cio_id")
                elif not it.get("name"):
                    problem = ("required", "name is required")
                elif len(orjson.dumps(it)) > 32 * 1024:
                    problem = ("invalid", "batch item larger than 32KB")
                elif it.get("id") is not None and not _ULID.match(str(it["id"])):
                    problem = ("invalid", "id must be a ULID")
                elif str(next(iter(ids.values()))) in self.faults.partial_keys:
                    problem = ("invalid", self.faults.partial_keys[str(next(iter(ids.values())))])
                if problem:
                    errors.append({"batch_index": i, "reason": problem[0], "message": problem[1]})
                    continue
                if it.get("id") in self.received:
                    self.stats["duplicates_suppressed"] += 1
                    continue
                self.received[it.get("id") or f"anon-{len(self.received)}"] = it
                self.stats["rows_applied"] += 1
        if errors:
            return Response(207, {"errors": errors})
        return Response(200, {})

    def delete_person(self, req: Request) -> Response:
        """Track API v1 ``DELETE /api/v1/customers/{identifier}``: the person and their data are deleted (200)."""
        pid = req.params["id"]
        with self.lock:
            self.received = {k: v for k, v in self.received.items()
                             if str(next(iter((v.get("identifiers") or {}).values()), "")) != pid}  # fmt: skip
            self.deleted_people.add(pid)
            self.stats["rows_deleted"] += 1
        return Response(200, {})
