"""HubSpot CRM sandbox: contacts batch upsert (207 multi-status), batch read, list memberships.

HubSpot's OpenAPI collection is not licensed for redistribution, so the request contract is checked here from
HubSpot's published reference: ``inputs`` (1..100) of ``{idProperty, id, properties{str: str}}``; unknown top
level keys, non-string property values and duplicate ids are refused with HubSpot's error shape.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _error(status: int, message: str, category: str = "VALIDATION_ERROR") -> SandboxError:
    return SandboxError(
        status,
        {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category},
    )


class HubSpotSandbox(VendorSandbox):
    name = "hubspot"
    default_rate_limit = (100.0, 10.0)  # private apps: 100 requests per 10 seconds

    def routes(self) -> list[Route]:
        return [
            ("POST", r"/crm/v3/objects/contacts/batch/upsert", self.upsert),
            ("POST", r"/crm/v3/objects/contacts/batch/read", self.read),
            ("PUT", r"/crm/v3/lists/(?P<id>[^/]+)/memberships/(?P<action>add|remove)", self.membership),
        ]

    def auth_error(self) -> Response:
        return Response(401, {"status": "error", "category": "INVALID_AUTHENTICATION",
                              "message": "Authentication credentials not found."})  # fmt: skip

    def rate_limited(self, wait: float) -> Response:
        body = {"status": "error", "category": "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING",
                "message": "You have reached your ten_secondly_rolling limit."}  # fmt: skip
        return Response(429, body, {"retry-after": f"{wait:.3f}"})

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"status": "error", "category": "INTERNAL_ERROR", "message": message or f"injected {code}"}

    def reset_store(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # record id -> properties
        self.lists: dict[str, set[str]] = {}

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
        body = req.json()
        if not isinstance(body, dict) or set(body) - {"inputs"} or not isinstance(body.get("inputs"), list):
            raise _error(400, 'Invalid input JSON: expected {"inputs": [...]}')
        inputs = body["inputs"]
        if not 1 <= len(inputs) <= 100:
            raise _error(400, f"Batch size must be between 1 and 100 (got {len(inputs)})")
        seen: set[str] = set()
        for i, inp in enumerate(inputs):
            if not isinstance(inp.get("id"), str) or not isinstance(inp.get("idProperty"), str):
                raise _error(400, f"inputs[{i}]: id and idProperty are required strings")
            props = inp.get("properties", {})
            if not isinstance(props, dict) or any(not isinstance(v, str) for v in props.values()):
                raise _error(400, f"inputs[{i}].properties: values must be strings")
            if inp["id"] in seen:
                raise _error(400, f"Duplicate IDs found in batch input: [{inp['id']}]")
            seen.add(inp["id"])
        results, errors = [], []
        with self.lock:
            for inp in inputs:
                rid_key = inp["id"]
                if rid_key in self.faults.reject_keys:
                    raise _error(400, self.faults.reject_keys[rid_key])
                email = inp["properties"].get("email", rid_key if inp["idProperty"] == "email" else None)
                if email is not None and not _EMAIL.match(email):
                    errors.append((rid_key, f"Property values were not valid: email {email!r} is invalid"))
                    continue
                if rid_key in self.faults.partial_keys:
                    errors.append((rid_key, self.faults.partial_keys[rid_key]))
                    continue
                rid = self._find(inp["idProperty"], rid_key)
                new = rid is None
                rid = rid or str(100000 + len(self.contacts))
                props = {**self.contacts.get(rid, {}), **inp["properties"], inp["idProperty"]: rid_key}
                self.contacts[rid] = props
                results.append({"id": rid, "new": new, "properties": props, "archived": False})
            self.stats["rows_applied"] += len(results)
            self.stats["rows_refused"] += len(errors)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = [{"status": "error", "category": "VALIDATION_ERROR", "message": m,
                              "context": {"id": [k]}} for k, m in errors]  # fmt: skip
            return Response(207, out)
        return Response(200, out)

    def read(self, req: Request) -> Response:
        body = req.json()
        prop = body.get("idProperty", "hs_object_id")
        inputs = body.get("inputs", [])
        if len(inputs) > 100:
            raise _error(400, "Batch size must be at most 100")
        results, missing = [], []
        with self.lock:
            for inp in inputs:
                rid = self._find(prop, inp["id"])
                if rid is None:
                    missing.append(inp["id"])
                else:
                    results.append({"id": rid, "properties": {p: self.contacts[rid].get(p) for p in
                                                             body.get("properties", [])}})  # fmt: skip
        out: dict[str, Any] = {"status": "COMPLETE", "results": results}
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
        if not isinstance(ids, list) or any(not isinstance(i, str) for i in ids):
            raise _error(400, "body must be an array of record ids (strings)")
        with self.lock:
            members = self.lists.setdefault(req.params["id"], set())
            known = [i for i in ids if i in self.contacts]
            missing = [i for i in ids if i not in self.contacts]
            if req.params["action"] == "add":
                members.update(known)
                return Response(200, {"recordIdsAdded": known, "recordIdsMissing": missing})
            members.difference_update(known)
            self.stats["rows_removed"] += len(known)
            return Response(200, {"recordIdsRemoved": known, "recordIdsMissing": missing})
