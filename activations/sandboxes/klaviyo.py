"""Klaviyo sandbox: profile bulk import jobs, profile look-up by email, list relationships.

Request bodies are validated against Klaviyo's own OpenAPI documents (``stable_categories_profiles.json``,
``stable_categories_lists.json``); the ``revision`` header is required; errors use Klaviyo's JSON:API shape.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox
from activations.sandboxes.spec import errors, request_validator_ct

PROFILES_SPEC = "klaviyo/stable_categories_profiles.json"
LISTS_SPEC = "klaviyo/stable_categories_lists.json"
JSONAPI = "application/vnd.api+json"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_ANY_EMAIL = re.compile(r"^any\(email,(\[.*\])\)$")


def _err(status: int, title: str, detail: str, pointer: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"id": str(uuid.uuid4()), "status": status, "code": "invalid", "title": title,
                         "detail": detail}  # fmt: skip
    if pointer:
        e["source"] = {"pointer": pointer}
    return e


def _refuse(status: int, errs: list[dict[str, Any]]) -> SandboxError:
    return SandboxError(status, {"errors": errs})


class KlaviyoSandbox(VendorSandbox):
    name = "klaviyo"
    default_rate_limit = (10.0, 4.0)  # burst 10, steady 150/min

    def routes(self) -> list[Route]:
        return [
            ("POST", r"/api/profile-bulk-import-jobs", self.bulk_import),
            ("GET", r"/api/profiles", self.get_profiles),
            ("POST", r"/api/lists/(?P<id>[^/]+)/relationships/profiles", self.add_to_list),
            ("DELETE", r"/api/lists/(?P<id>[^/]+)/relationships/profiles", self.remove_from_list),
        ]

    def authorized(self, req: Request) -> bool:
        return req.headers.get("authorization") == f"Klaviyo-API-Key {self.token}"

    def auth_error(self) -> Response:
        return Response(401, {"errors": [_err(401, "Authentication credentials were not provided.", "bad key")]})

    def rate_limited(self, wait: float) -> Response:
        body = {"errors": [_err(429, "Request was throttled.", f"Expected available in {wait:.3f} seconds.")]}
        return Response(429, body, {"retry-after": f"{max(wait, 0.001):.3f}"})

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"errors": [_err(code, "Injected fault", message or f"injected {code}")]}

    def reset_store(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}  # by id
        self.by_email: dict[str, str] = {}
        self.lists: dict[str, set[str]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}

    def store(self) -> Any:
        return {"profiles": self.profiles, "lists": {k: sorted(v) for k, v in self.lists.items()}}

    def list_members(self, list_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {self.profiles[i]["email"]: dict(self.profiles[i]) for i in self.lists.get(list_id, set())}

    def _check(self, req: Request, spec: str, path: str, method: str) -> Any:
        if not req.headers.get("revision"):
            raise _refuse(400, [_err(400, "Missing revision header", "the revision header is required")])
        if not req.headers.get("content-type", "").startswith(JSONAPI):
            raise _refuse(415, [_err(415, "Unsupported media type", f"use {JSONAPI}")])
        body = req.json()
        problems = errors(request_validator_ct(spec, path, method, JSONAPI), body)
        if problems:
            self.count("schema_refused")
            raise _refuse(400, [_err(400, "Invalid input.", p, "/" + p.split(":", 1)[0].replace(".", "/"))
                                for p in problems])  # fmt: skip
        return body

    def bulk_import(self, req: Request) -> Response:
        body = self._check(req, PROFILES_SPEC, "/api/profile-bulk-import-jobs", "post")
        profiles = body["data"]["attributes"]["profiles"]["data"]
        if len(profiles) > 10_000 or len(req.body) > 5 * 1024 * 1024:
            raise _refuse(413, [_err(413, "Payload too large", "at most 10,000 profiles / 5MB per job")])
        bad = []
        with self.lock:
            for i, p in enumerate(profiles):
                email = str(p["attributes"].get("email") or "").lower()
                ptr = f"/data/attributes/profiles/data/{i}/attributes/email"
                if email in self.faults.reject_keys:
                    raise _refuse(400, [_err(400, "Invalid input.", self.faults.reject_keys[email])])
                if not _EMAIL.match(email):
                    bad.append(_err(400, "Invalid input.", "Invalid email address", ptr))
                elif email in self.faults.partial_keys:
                    bad.append(_err(400, "Invalid input.", self.faults.partial_keys[email], ptr))
        if bad:
            self.count("rows_refused", len(bad))
            raise _refuse(400, bad)
        lists = [x["id"] for x in body["data"].get("relationships", {}).get("lists", {}).get("data", [])]
        job_id = str(uuid.uuid4())
        with self.lock:
            for p in profiles:
                attrs = {**p["attributes"], "email": p["attributes"]["email"].lower()}
                pid = self.by_email.get(attrs["email"]) or "01" + uuid.uuid4().hex[:24].upper()
                cur = self.profiles.get(pid, {})
                merged = {**cur, **attrs}
                if "properties" in cur or "properties" in attrs:
                    merged["properties"] = {**cur.get("properties", {}), **attrs.get("properties", {})}
                self.profiles[pid] = merged
                self.by_email[attrs["email"]] = pid
                for lst in lists:
                    self.lists.setdefault(lst, set()).add(pid)
            self.stats["rows_applied"] += len(profiles)
            self.jobs[job_id] = {"status": "complete", "total_count": len(profiles)}
        attrs = {"status": "queued", "total_count": len(profiles)}
        return Response(202, {"data": {"type": "profile-bulk-import-job", "id": job_id, "attributes": attrs}})

    def get_profiles(self, req: Request) -> Response:
        if not req.headers.get("revision"):
            raise _refuse(400, [_err(400, "Missing revision header", "the revision header is required")])
        m = _ANY_EMAIL.match(req.q("filter") or "")
        size = int(req.q("page[size]") or 20)
        if not m or size > 100:
            raise _refuse(400, [_err(400, "Invalid filter.", "expected any(email,[...]) and page[size] <= 100")])
        emails = [e.lower() for e in json.loads(m.group(1))]
        with self.lock:
            ids = [self.by_email[e] for e in emails if e in self.by_email][:size]
            data = [{"type": "profile", "id": i, "attributes": {"email": self.profiles[i]["email"]}} for i in ids]
        return Response(200, {"data": data, "links": {"self": req.path, "next": None, "prev": None}})

    def _members(self, req: Request, method: str) -> list[str]:
        body = self._check(req, LISTS_SPEC, "/api/lists/{id}/relationships/profiles", method)
        ids = [d["id"] for d in body["data"]]
        if len(ids) > 1000:
            raise _refuse(400, [_err(400, "Too many profiles", "at most 1000 profiles per call")])
        return ids

    def add_to_list(self, req: Request) -> Response:
        ids = self._members(req, "post")
        with self.lock:
            self.lists.setdefault(req.params["id"], set()).update(i for i in ids if i in self.profiles)
        return Response(204)

    def remove_from_list(self, req: Request) -> Response:
        ids = self._members(req, "delete")
        with self.lock:
            if req.params["id"] not in self.lists:
                raise _refuse(404, [_err(404, "Not found.", "list not found")])
            self.lists[req.params["id"]].difference_update(ids)
            self.stats["rows_removed"] += len(ids)
        return Response(204)
