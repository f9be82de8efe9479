"""SendGrid Marketing sandbox: contacts upsert (async job), search by emails, list removal.

Request bodies are validated against SendGrid's own OpenAPI documents (``tsg_mc_contacts_v3.json``,
``tsg_mc_lists_v3.json`` in the vendor-specs folder); a body that does not conform is answered 400 with
SendGrid's ``{"errors": [{"field", "message"}]}`` shape.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox
from activations.sandboxes.spec import errors, request_validator

CONTACTS_SPEC = "sendgrid/tsg_mc_contacts_v3.json"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _sg_error(status: int, errs: list[dict[str, Any]]) -> SandboxError:
    return SandboxError(status, {"errors": errs})


class SendGridSandbox(VendorSandbox):
    name = "sendgrid"
    # SendGrid answers X-RateLimit-* per endpoint; 600 requests/min is its general v3 limit.
    default_rate_limit = (10.0, 1.0)

    def routes(self) -> list[Route]:
        return [
            ("PUT", r"/v3/marketing/contacts", self.upsert),
            ("POST", r"/v3/marketing/contacts/search/emails", self.search_emails),
            ("DELETE", r"/v3/marketing/lists/(?P<id>[^/]+)/contacts", self.remove_from_list),
            ("GET", r"/v3/marketing/contacts/imports/(?P<id>[^/]+)", self.job_status),
        ]

    def auth_error(self) -> Response:
        return Response(401, {"errors": [{"field": None, "message": "authorization required"}]})

    def rate_limited(self, wait: float) -> Response:
        return Response(
            429, {"errors": [{"field": None, "message": "too many requests"}]},
            {"retry-after": f"{wait:.3f}", "x-ratelimit-remaining": "0"},
        )  # fmt: skip

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"errors": [{"field": None, "message": message or f"injected {code}"}]}

    def reset_store(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # by lower-case email
        self.lists: dict[str, set[str]] = {}  # list id -> contact ids
        self.jobs: dict[str, dict[str, Any]] = {}

    def store(self) -> Any:
        return {"contacts": self.contacts, "lists": {k: sorted(v) for k, v in self.lists.items()}}

    def list_members(self, list_id: str) -> dict[str, dict[str, Any]]:
        """email -> contact, for the contacts on this list."""
        with self.lock:
            ids = self.lists.get(list_id, set())
            return {e: dict(c) for e, c in self.contacts.items() if c["id"] in ids}

    def _validate(self, path: str, method: str, body: Any) -> None:
        problems = errors(request_validator(CONTACTS_SPEC, path, method), body)
        if problems:
            self.count("schema_refused")
            raise _sg_error(400, [{"field": p.split(":", 1)[0], "message": p} for p in problems])

    def upsert(self, req: Request) -> Response:
        body = req.json()
        self._validate("/v3/marketing/contacts", "put", body)
        contacts = body["contacts"]
        if len(req.body) > 6 * 1024 * 1024:
            raise _sg_error(413, [{"field": None, "message": "request body exceeds 6MB"}])
        row_errors = []
        with self.lock:
            for i, c in enumerate(contacts):
                email = str(c.get("email", "")).lower()
                if email in self.faults.reject_keys:
                    raise _sg_error(400, [{"field": None, "message": self.faults.reject_keys[email]}])
                if not _EMAIL.match(email):
                    row_errors.append({"field": f"contacts[{i}].email", "message": "invalid email"})
                elif email in self.faults.partial_keys:
                    row_errors.append({"field": f"contacts[{i}].email", "message": self.faults.partial_keys[email]})
        if row_errors:  # SendGrid refuses the whole call and names the rows
            self.count("rows_refused", len(row_errors))
            raise _sg_error(400, row_errors)
        job_id = str(uuid.uuid4())
        with self.lock:
            for lst in body.get("list_ids", []):
                self.lists.setdefault(lst, set())
            for c in contacts:
                email = c["email"].lower()
                cur = self.contacts.get(email) or {"id": str(uuid.uuid4()), "list_ids": []}
                merged = {**cur, **c, "email": email}
                merged["list_ids"] = sorted(set(cur["list_ids"]) | set(body.get("list_ids", [])))
                self.contacts[email] = merged
                for lst in body.get("list_ids", []):
                    self.lists[lst].add(merged["id"])
            self.jobs[job_id] = {
                "id": job_id,
                "status": "completed",
                "job_type": "upsert",
                "results": {"requested_count": len(contacts), "created_count": len(contacts)},
            }
            self.stats["rows_applied"] += len(contacts)
        return Response(202, {"job_id": job_id})

    def search_emails(self, req: Request) -> Response:
        body = req.json()
        self._validate("/v3/marketing/contacts/search/emails", "post", body)
        if len(body["emails"]) > 100:
            raise _sg_error(400, [{"field": "emails", "message": "at most 100 emails per search"}])
        result: dict[str, Any] = {}
        with self.lock:
            for e in body["emails"]:
                c = self.contacts.get(e.lower())
                result[e.lower()] = {"contact": c} if c else {"error": "contact not found"}
        if not any("contact" in v for v in result.values()):
            return Response(404, {"errors": [{"message": "No contacts found"}]})
        return Response(200, {"result": result})

    def remove_from_list(self, req: Request) -> Response:
        ids = [i for i in (req.q("contact_ids") or "").split(",") if i]
        if not ids:
            raise _sg_error(400, [{"field": "contact_ids", "message": "contact_ids is required"}])
        with self.lock:
            members = self.lists.get(req.params["id"])
            if members is None:
                return Response(404, {"errors": [{"message": "list not found"}]})
            for cid in ids:
                members.discard(cid)
            for c in self.contacts.values():
                if c["id"] in ids:
                    c["list_ids"] = [x for x in c["list_ids"] if x != req.params["id"]]
            job_id = str(uuid.uuid4())
            self.jobs[job_id] = {"id": job_id, "status": "completed", "job_type": "delete"}
            self.stats["rows_removed"] += len(ids)
        return Response(202, {"job_id": job_id})

    def job_status(self, req: Request) -> Response:
        with self.lock:
            job = self.jobs.get(req.params["id"])
        return Response(200, job) if job else Response(404, {"errors": [{"message": "job not found"}]})
