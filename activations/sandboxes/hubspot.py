"""HubSpot CRM sandbox: contacts batch upsert (207 multi-status), batch read, list memberships.

HubSpot publishes its OpenAPI documents (github.com/HubSpot/HubSpot-public-api-spec-collection,
``PublicApiSpecs/CRM/Contacts/Rollouts/424/v3/contacts.json`` and ``PublicApiSpecs/CRM/Lists/Rollouts/144891/
v3/lists.json``) but marks them "proprietary to HubSpot and not licensed for external use", so they are not
copied into this repository. The checks below follow those schemas by hand:
- ``BatchInputSimplePublicObjectBatchInputUpsert``: ``inputs`` (1..100) of ``{id, properties{str: str}}``
  (required) with optional ``idProperty`` (default: the record id, ``hs_object_id``) and ``objectWriteTraceId``;
- ``BatchReadInputSimplePublicObjectId``: ``inputs``, ``properties`` and ``propertiesWithHistory`` required;
- list memberships add/remove: an array of record id strings; the answer holds ``recordIdsMissing``,
  ``recordIdsRemoved`` and ``recordsIdsAdded`` (HubSpot's spelling);
- list memberships read (``GET /crm/v3/lists/{listId}/memberships?limit=&after=``): ``limit`` 1..250
  (default 100), members ordered by ``recordId``; the answer holds ``results[{recordId, membershipTimestamp}]``,
  ``total`` and, while more remain, ``paging.next{after, link}``;
- answers carry ``status``, ``startedAt``, ``completedAt`` and records with ``createdAt``/``updatedAt``.
Duplicate ids in one batch are refused with HubSpot's error shape. If a copy of those documents is placed in
the vendor-specs folder (env ``OUTFLOW_VENDOR_SPECS``; see ``activations.sandboxes.spec``), every body is also
validated against the document of the request's API version: ``hubspot/contacts.json``/``hubspot/lists.json``
for ``v3``; ``hubspot/2026-09/contacts.json``/``hubspot/2026-09/lists.json`` (from ``.../Rollouts/424/2026-09/``
and ``.../Rollouts/144891/2026-09/``) for the dated ``2026-09`` API.

Limits: private apps 100 requests per rolling 10 s (``TEN_SECONDLY_ROLLING``, Free/Starter; 190 on
Professional/Enterprise), answered 429 with HubSpot's ``RATE_LIMITS`` body.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import uuid
from typing import Any

from activations.destinations.versions import VERSIONS, served
from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox
from activations.sandboxes.spec import errors as spec_errors
from activations.sandboxes.spec import have_spec, request_validator

# HubSpot's documents per API version, as a local copy holds them (file, then the path template they use):
# v3 -> hubspot/contacts.json, hubspot/lists.json; a dated version V -> hubspot/V/contacts.json, hubspot/V/lists.json
_SPEC_PATHS = {
    ("contacts", "v3"): "/crm/v3/objects/contacts/batch/{op}",
    ("contacts", "dated"): "/crm/objects/{v}/{{objectType}}/batch/{op}",
    ("lists", "v3"): "/crm/v3/lists/{{listId}}/memberships/{op}",
    ("lists", "dated"): "/crm/lists/{v}/{{listId}}/memberships/{op}",
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _version(path: str) -> str | None:
    """The API version a request path names (``v3`` or a date such as ``2026-09``)."""
    m = re.match(r"/crm/(v\d+)/|/crm/(?:objects|lists)/([\w-]+)/", path)
    return (m.group(1) or m.group(2)) if m else None


def spec_file(doc: str, version: str) -> str:
    """The local copy of HubSpot's ``doc`` ("contacts" or "lists") document for an API version."""
    return f"hubspot/{doc}.json" if version.startswith("v") else f"hubspot/{version}/{doc}.json"


def _spec_check(doc: str, op: str, req: Request, method: str, body: Any) -> None:
    """Validate against HubSpot's own document for the request's API version when a local copy is present (it
    is never shipped here)."""
    version = _version(req.path) or "v3"
    relpath = spec_file(doc, version)
    if not have_spec(relpath):
        return
    path = _SPEC_PATHS[doc, "v3" if version.startswith("v") else "dated"].format(v=version, op=op)
    problems = spec_errors(request_validator(relpath, path, method), body)
    if problems:
        raise _error(400, "Invalid input JSON: " + "; ".join(problems))


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _error(status: int, message: str, category: str = "VALIDATION_ERROR") -> SandboxError:
    return SandboxError(
        status,
        {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category},
    )


class HubSpotSandbox(VendorSandbox):
    name = "hubspot"
    default_rate_limit = (100.0, 10.0)  # private apps: 100 requests per 10 seconds

    def __init__(self, *, memberships_page_size: int = 250, **kw: Any) -> None:
        self.memberships_page_size = memberships_page_size  # at most this many members a page, whatever limit
        self.error_context_key = "id"  # the key a 207's errors[].context names failed inputs under (tests vary it)
        super().__init__(**kw)

    def contacts_page(self, req: Request) -> Response:
        """``GET .../objects/contacts?limit=n``: a page of contacts (the credential check reads one)."""
        with self.lock:
            ids = list(self.contacts)[: int(req.q("limit") or 10)]
        return Response(200, {"results": [{"id": str(i), "properties": {}} for i in ids]})

    def routes(self) -> list[Route]:
        # the legacy /crm/v3/... paths and the date-versioned /crm/objects/{YYYY-MM}/..., /crm/lists/{YYYY-MM}/...
        obj = r"/crm/(?:v\d+/objects|objects/[\w-]+)/contacts"
        lists = r"/crm/(?:v\d+/lists|lists/[\w-]+)/(?P<id>[^/]+)"
        return [
            ("GET", obj, self.contacts_page),
            ("POST", obj + r"/batch/upsert", self.upsert),
            ("POST", obj + r"/batch/read", self.read),
            ("POST", obj + r"/gdpr-delete", self.gdpr_delete),
            ("PUT", lists + r"/memberships/(?P<action>add|remove)", self.membership),
            ("GET", lists + r"/memberships", self.memberships_page),
        ]

    def handle(self, req: Request, conn: socket.socket) -> Response | None:
        """An API version HubSpot does not serve (unknown or past its end of life) is answered 404; every answer
        carries HubSpot's ``X-HubSpot-RateLimit-*`` headers (never Retry-After)."""
        version = _version(req.path)
        if version is not None and (version not in VERSIONS["hubspot"].sunsets or not served("hubspot", version)):
            self.count("version_retired")
            return Response(404, {"status": "error", "category": "OBJECT_NOT_FOUND",
                                  "message": f"API version {version} is not available"})  # fmt: skip
        resp = super().handle(req, conn)
        if resp is not None and not req.path.startswith("/_sandbox"):
            resp.headers = {**self.throttle_headers(0.0), **resp.headers}
        return resp

    def throttle_headers(self, wait: float) -> dict[str, str]:
        limit, window = self.bucket_limits()
        remaining = int(self.bucket.tokens) if self.bucket is not None else limit
        return {"x-hubspot-ratelimit-max": str(limit), "x-hubspot-ratelimit-remaining": str(max(0, remaining)),
                "x-hubspot-ratelimit-interval-milliseconds": str(int(window * 1000))}  # fmt: skip

    def bucket_limits(self) -> tuple[int, float]:
        """(requests, window seconds) this sandbox enforces (HubSpot's private-app default when unlimited)."""
        if self.bucket is None:
            return int(self.default_rate_limit[0]), self.default_rate_limit[1]
        return int(self.bucket.capacity), self.bucket.capacity / self.bucket.rate

    def auth_error(self) -> Response:
        return Response(401, {"status": "error", "category": "INVALID_AUTHENTICATION",
                              "message": "Authentication credentials not found."})  # fmt: skip

    def rate_limited(self, wait: float) -> Response:
        body = {"status": "error", "category": "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING",
                "message": "You have reached your ten_secondly_rolling limit."}  # fmt: skip
        return Response(429, body, self.throttle_headers(wait))

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"status": "error", "category": "INTERNAL_ERROR", "message": message or f"injected {code}"}

    def reset_store(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # record id -> properties
        self.created: dict[str, str] = {}  # record id -> createdAt
        self.lists: dict[str, set[str]] = {}
        self.blocklist: set[str] = set()  # emails a GDPR delete found no contact for

    def store(self) -> Any:
        return {"contacts": self.contacts, "lists": {k: sorted(v) for k, v in self.lists.items()}}

    def _find(self, prop: str, value: str) -> str | None:
        for rid, props in self.contacts.items():
            if props.get(prop) == value:
                return rid
        return None

    def list_members(self, list_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {self.contacts[i]["email"]: dict(self.contacts[i]) for i in self.lists.get(list_id, set())}

    def upsert(self, req: Request) -> Response:
        started = _now()
        body = req.json()
        _spec_check("contacts", "upsert", req, "post", body)
        if not isinstance(body, dict) or set(body) - {"inputs"} or not isinstance(body.get("inputs"), list):
            raise _error(400, 'Invalid input JSON: expected {"inputs": [...]}')
        inputs = body["inputs"]
        if not 1 <= len(inputs) <= 100:
            raise _error(400, f"Batch size must be between 1 and 100 (got {len(inputs)})")
        seen: set[str] = set()
        for i, inp in enumerate(inputs):
            if not isinstance(inp, dict) or set(inp) - {"id", "idProperty", "objectWriteTraceId", "properties"}:
                raise _error(400, f"inputs[{i}]: only id, idProperty, objectWriteTraceId and properties are allowed")
            if not isinstance(inp.get("id"), str) or not isinstance(inp.get("idProperty", ""), str):
                raise _error(400, f"inputs[{i}]: id (and idProperty when given) must be strings")
            props = inp.get("properties")
            if not isinstance(props, dict) or any(not isinstance(v, str) for v in props.values()):
                raise _error(400, f"inputs[{i}].properties: required, and its values must be strings")
            if inp["id"] in seen:
                raise _error(400, f"Duplicate IDs found in batch input: [{inp['id']}]")
            seen.add(inp["id"])
        results, errors = [], []
        with self.lock:
            for inp in inputs:
                rid_key = inp["id"]
                if rid_key in self.faults.reject_keys:
                    raise _error(400, self.faults.reject_keys[rid_key])
                id_prop = inp.get("idProperty", "hs_object_id")
                email = inp["properties"].get("email", rid_key if id_prop == "email" else None)
                if email is not None and not _EMAIL.match(email):
                    errors.append((rid_key, f"Property values were not valid: email {email!r} is invalid"))
                    continue
                if rid_key in self.faults.partial_keys:
                    errors.append((rid_key, self.faults.partial_keys[rid_key]))
                    continue
                if id_prop == "hs_object_id":
                    if rid_key not in self.contacts:
                        errors.append((rid_key, f"Object not found. objectId are usually numeric: {rid_key}"))
                        continue
                    rid = rid_key
                else:
                    rid = self._find(id_prop, rid_key)
                new = rid is None
                rid = rid or str(100000 + len(self.contacts))
                props = {**self.contacts.get(rid, {}), **inp["properties"]}
                if id_prop != "hs_object_id":
                    props[id_prop] = rid_key
                self.contacts[rid] = props
                now = _now()
                created = self.created.setdefault(rid, now)
                results.append({"id": rid, "new": new, "properties": props, "archived": False,
                                "createdAt": created, "updatedAt": now})  # fmt: skip
            self.stats["rows_applied"] += len(results)
            self.stats["rows_refused"] += len(errors)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": _now()}  # fmt: skip
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = [{"status": "error", "category": "VALIDATION_ERROR", "message": m,
                              "context": {self.error_context_key: [k]}} for k, m in errors]  # fmt: skip
            return Response(207, out)
        return Response(200, out)

    def read(self, req: Request) -> Response:
        started = _now()
        body = req.json()
        _spec_check("contacts", "read", req, "post", body)
        missing_keys = [k for k in ("inputs", "properties", "propertiesWithHistory") if k not in (body or {})]
        if not isinstance(body, dict) or missing_keys:
            raise _error(400, f"Invalid input JSON: {', '.join(missing_keys) or 'body'} required")
        prop = body.get("idProperty", "hs_object_id")
        inputs = body["inputs"]
        if not isinstance(inputs, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), str)
                                                   for i in inputs):  # fmt: skip
            raise _error(400, "inputs: an array of {id: string}")
        if len(inputs) > 100:
            raise _error(400, "Batch size must be at most 100")
        results, missing = [], []
        with self.lock:
            for inp in inputs:
                by_record_id = prop == "hs_object_id" and inp["id"] in self.contacts
                rid = inp["id"] if by_record_id else self._find(prop, inp["id"])
                if rid is None:
                    missing.append(inp["id"])
                else:
                    props = {p: self.contacts[rid].get(p) for p in body["properties"]}
                    at = self.created.get(rid)
                    results.append({"id": rid, "properties": props, "archived": False, "createdAt": at,
                                    "updatedAt": at})  # fmt: skip
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": _now()}  # fmt: skip
        if missing:
            out["numErrors"] = 1
            msg = "Could not get some CONTACT objects"
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": msg,
                    "context": {"ids": missing},
                }
            ]
            return Response(207, out)
        return Response(200, out)

    def membership(self, req: Request) -> Response:
        ids = req.json()
        _spec_check("lists", req.params["action"], req, "put", ids)
        if not isinstance(ids, list) or any(not isinstance(i, str) for i in ids):
            raise _error(400, "body must be an array of record ids (strings)")
        with self.lock:
            members = self.lists.setdefault(req.params["id"], set())
            known = [i for i in ids if i in self.contacts]
            missing = [i for i in ids if i not in self.contacts]
            if req.params["action"] == "add":
                added = [i for i in known if i not in members]
                members.update(known)
                return Response(200, {"recordsIdsAdded": added, "recordIdsRemoved": [], "recordIdsMissing": missing})
            removed = [i for i in known if i in members]
            members.difference_update(known)
            self.stats["rows_removed"] += len(removed)
            return Response(200, {"recordsIdsAdded": [], "recordIdsRemoved": removed, "recordIdsMissing": missing})

    def memberships_page(self, req: Request) -> Response:
        """A page of the list's members ordered by record id, from after the ``after`` cursor."""
        try:
            limit = int(req.q("limit") or 100)
        except ValueError:
            raise _error(400, "limit must be an integer") from None
        if not 1 <= limit <= 250:
            raise _error(400, f"limit must be between 1 and 250 (got {limit})")
        after = req.q("after")
        if after is not None and not after.isdigit():
            raise _error(400, f"after: invalid paging cursor {after!r}")
        with self.lock:  # lists exist here once something was added to them; an unknown list is empty
            ids = sorted(self.lists.get(req.params["id"], set()), key=int)
            rest = [i for i in ids if after is None or int(i) > int(after)]
            page = rest[: min(limit, self.memberships_page_size)]
            out: dict[str, Any] = {
                "results": [{"recordId": i, "membershipTimestamp": self.created.get(i)} for i in page],
                "total": len(ids),
            }
        if len(rest) > len(page):
            link = f"/crm/v3/lists/{req.params['id']}/memberships?limit={limit}&after={page[-1]}"
            out["paging"] = {"next": {"after": page[-1], "link": link}}
        return Response(200, out)

    def gdpr_delete(self, req: Request) -> Response:
        """GDPR delete: ``{"objectId", "idProperty"?}``; the contact and its list memberships are deleted for
        good (204). An email that matches no contact is blocklisted, as HubSpot does (204 too)."""
        body = req.json()
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("objectId"), str)
            or set(body) - {"objectId", "idProperty"}
        ):
            raise _error(400, "Invalid input JSON: objectId (string) is required; only idProperty may accompany it")
        prop = body.get("idProperty") or "hs_object_id"
        with self.lock:
            rid = body["objectId"] if prop == "hs_object_id" and body["objectId"] in self.contacts else None
            rid = rid or (self._find(prop, body["objectId"]) if prop != "hs_object_id" else None)
            if rid is None:
                if prop != "email":
                    raise _error(404, f"contact {body['objectId']} not found", "OBJECT_NOT_FOUND")
                self.blocklist.add(body["objectId"].lower())
                return Response(204)
            self.contacts.pop(rid, None)
            self.created.pop(rid, None)
            for members in self.lists.values():
                members.discard(rid)
            self.stats["rows_deleted"] += 1
        return Response(204)
