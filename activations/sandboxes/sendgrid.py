"""SendGrid Marketing sandbox: contacts upsert (async job), import job status, search by emails, list removal.

Request bodies are validated against SendGrid's own OpenAPI documents (``tsg_mc_contacts_v3.json``,
``tsg_mc_lists_v3.json`` in the vendor-specs folder); a body that does not conform is answered 400 with
SendGrid's ``{"errors": [{"field", "message"}]}`` shape.

``PUT /v3/marketing/contacts`` validates synchronously, then queues a job (``202 {"job_id"}``) that stays
``pending`` for ``job_seconds`` and is then processed: ``GET /v3/marketing/contacts/imports/{id}`` answers the
ContactImport shape of the spec (``status`` pending/completed/errored/failed, ``results`` counts and
``errors_url``). Contacts refused by the job (fault ``partial``: e.g. a block-listed address) are listed in the
errors file, a CSV (``email,error``) at a pre-signed download link served without the API key.

Rate limits: SendGrid publishes no per-endpoint numbers; its v3 API answers ``X-RateLimit-*`` per endpoint and
the documented default is 600 requests per minute (Twilio SendGrid changelog, "Imposing Rate Limits on some
SendGrid V2 API Endpoints", 2019-10-10; https://www.twilio.com/docs/sendgrid/api-reference/
how-to-use-the-sendgrid-v3-api/rate-limits). With ``real_rate_limit=True`` each endpoint has its own
600/min refresh window.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import secrets
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from activations.sandboxes.base import Request, Response, Route, SandboxError, TokenBucket, VendorSandbox
from activations.sandboxes.jobs import JobQueue
from activations.sandboxes.spec import errors, request_validator

CONTACTS_SPEC = "sendgrid/tsg_mc_contacts_v3.json"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def _sg_error(status: int, errs: list[dict[str, Any]]) -> SandboxError:
    return SandboxError(status, {"errors": errs})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SendGridSandbox(VendorSandbox):
    name = "sendgrid"
    # the documented v3 default, per endpoint (see the module docstring)
    default_rate_limit = (600.0, 60.0)

    def __init__(self, *, job_seconds: float = 0.2, **kw: Any) -> None:
        """``job_seconds``: how long an import job stays pending before it is processed."""
        self.job_seconds = job_seconds
        self._endpoint_buckets: dict[str, TokenBucket] = {}
        super().__init__(**kw)

    def buckets(self, req: Request) -> list[TokenBucket]:
        if not self.real_rate_limit:
            return super().buckets(req)
        endpoint = req.method + " " + re.sub(r"/(imports|lists)/[^/]+", r"/\1/{id}", req.path)
        with self.lock:
            b = self._endpoint_buckets.get(endpoint)
            if b is None:
                b = self._endpoint_buckets[endpoint] = TokenBucket(*self.default_rate_limit)
        return [b]

    def handle(self, req: Request, conn: socket.socket) -> Response | None:
        self.jobq.advance()
        if req.method == "GET" and req.path.startswith("/_files/"):  # a pre-signed download: no API key, no limit
            return self.export_file(req) if req.path.startswith("/_files/exports/") else self.errors_file(req)
        return super().handle(req, conn)

    def scopes(self, req: Request) -> Response:
        """``GET /v3/scopes``: the scopes of the API key."""
        return Response(200, {"scopes": ["marketing.read", "marketing.write"]})

    def routes(self) -> list[Route]:
        return [
            ("GET", r"/v3/scopes", self.scopes),
            ("PUT", r"/v3/marketing/contacts", self.upsert),
            ("POST", r"/v3/marketing/contacts/search/emails", self.search_emails),
            ("DELETE", r"/v3/marketing/contacts", self.delete_contacts),
            ("POST", r"/v3/marketing/contacts/exports", self.export),
            ("GET", r"/v3/marketing/contacts/exports/(?P<id>[^/]+)", self.export_status),
            ("DELETE", r"/v3/marketing/lists/(?P<id>[^/]+)/contacts", self.remove_from_list),
            ("GET", r"/v3/marketing/contacts/imports/(?P<id>[^/]+)", self.job_status),
        ]

    def auth_error(self) -> Response:
        return Response(401, {"errors": [{"field": None, "message": "authorization required"}]})

    def rate_limited(self, wait: float) -> Response:
        return Response(429, {"errors": [{"field": None, "message": "too many requests"}]}, self.throttle_headers(wait))

    def throttle_headers(self, wait: float) -> dict[str, str]:
        """SendGrid's signals: ``X-RateLimit-Limit/-Remaining/-Reset`` (the reset as a Unix time in whole
        seconds); SendGrid sends no Retry-After."""
        reset = time.time() + (wait if wait < 86_400 else 86_400)
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(math.ceil(reset))}
        if self.real_rate_limit:
            headers["x-ratelimit-limit"] = str(int(self.default_rate_limit[0]))
        return headers

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"errors": [{"field": None, "message": message or f"injected {code}"}]}

    def reset_store(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # by lower-case email
        self.lists: dict[str, set[str]] = {}  # list id -> contact ids
        self.jobs: dict[str, dict[str, Any]] = {}
        self.exports: dict[str, dict[str, Any]] = {}
        self.error_files: dict[str, tuple[str, bytes]] = {}  # job id -> (signature, CSV)
        self.jobq = JobQueue(self.job_seconds, self.lock)

    def store(self) -> Any:
        self.jobq.advance()
        return {"contacts": self.contacts, "lists": {k: sorted(v) for k, v in self.lists.items()}}

    def list_members(self, list_id: str) -> dict[str, dict[str, Any]]:
        """email -> contact, for the contacts on this list."""
        self.jobq.advance()
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
        if row_errors:  # validation refuses the whole call and names the rows
            self.count("rows_refused", len(row_errors))
            raise _sg_error(400, row_errors)
        job_id = str(uuid.uuid4())
        list_ids = list(body.get("list_ids", []))
        with self.lock:
            self.jobs[job_id] = {"id": job_id, "status": "pending", "job_type": "upsert",
                                 "results": {"requested_count": len(contacts)}, "started_at": _now()}  # fmt: skip
            refusals = dict(self.faults.partial_keys)  # refusals decided now, applied when the job runs
        self.jobq.submit(lambda: self._run_upsert(job_id, contacts, list_ids, refusals))
        return Response(202, {"job_id": job_id})

    def _run_upsert(self, job_id: str, contacts: list[dict[str, Any]], list_ids: list[str],
                    refusals: dict[str, str]) -> None:  # fmt: skip
        created = updated = 0
        refused: list[tuple[str, str]] = []
        for lst in list_ids:
            self.lists.setdefault(lst, set())
        for c in contacts:
            email = c["email"].lower()
            if email in refusals:
                refused.append((email, refusals[email]))
                continue
            cur = self.contacts.get(email)
            created, updated = (created + 1, updated) if cur is None else (created, updated + 1)
            cur = cur or {"id": str(uuid.uuid4()), "list_ids": []}
            merged = {**cur, **c, "email": email}
            merged["list_ids"] = sorted(set(cur["list_ids"]) | set(list_ids))
            self.contacts[email] = merged
            for lst in list_ids:
                self.lists[lst].add(merged["id"])
        job = self.jobs[job_id]
        results = {**job["results"], "created_count": created, "updated_count": updated,
                   "errored_count": len(refused)}  # fmt: skip
        if refused:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["email", "error"])
            w.writerows(refused)
            sig = secrets.token_hex(8)
            self.error_files[job_id] = (sig, buf.getvalue().encode())
            results["errors_url"] = f"{self.url}/_files/imports/{job_id}/errors.csv?sig={sig}"
            self.stats["rows_refused"] += len(refused)
        status = "completed" if not refused else "failed" if len(refused) == len(contacts) else "errored"
        job.update(status=status, results=results, finished_at=_now())
        self.stats["rows_applied"] += created + updated

    def errors_file(self, req: Request) -> Response:
        m = re.fullmatch(r"/_files/imports/([^/]+)/errors\.csv", req.path)
        with self.lock:
            entry = self.error_files.get(m.group(1)) if m else None
        if entry is None or req.q("sig") != entry[0]:
            return Response(403, b"<Error><Code>AccessDenied</Code></Error>", {"content-type": "application/xml"})
        self.count("errors_file_downloads")
        if "authorization" in req.headers:
            self.count("errors_file_got_api_key")  # a client must not send its key to a download link
        return Response(200, entry[1], {"content-type": "text/csv"})

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
            job_id = self._finished_delete_job(len(ids))
            self.stats["rows_removed"] += len(ids)
        return Response(202, {"job_id": job_id})

    def _finished_delete_job(self, deleted: int) -> str:
        """A deletion job, already completed (the sandbox deletes at once); its id."""
        job_id = str(uuid.uuid4())
        self.jobs[job_id] = {"id": job_id, "status": "completed", "job_type": "delete",
                             "results": {"deleted_count": deleted}, "started_at": _now(),
                             "finished_at": _now()}  # fmt: skip
        return job_id

    def job_status(self, req: Request) -> Response:
        with self.lock:
            job = self.jobs.get(req.params["id"])
            job = dict(job, results=dict(job["results"])) if job else None
        return Response(200, job) if job else Response(404, {"errors": [{"message": "job not found"}]})

    def delete_contacts(self, req: Request) -> Response:
        """``DELETE /v3/marketing/contacts?ids=a,b``: deletes the contacts (from every list); 202 with a
        ``job_id``. SendGrid refuses a call with neither ``ids`` nor ``delete_all_contacts=true``."""
        ids = [i for i in (req.q("ids") or "").split(",") if i]
        if not ids and req.q("delete_all_contacts") != "true":
            raise _sg_error(400, [{"field": "ids", "message": "ids or delete_all_contacts is required"}])
        if len(ids) > 100:
            raise _sg_error(400, [{"field": "ids", "message": "at most 100 ids per call"}])
        with self.lock:
            gone = [e for e, c in self.contacts.items() if c["id"] in ids]
            for e in gone:
                del self.contacts[e]
            for members in self.lists.values():
                members.difference_update(ids)
            job_id = self._finished_delete_job(len(gone))
            self.stats["rows_deleted"] += len(gone)
        return Response(202, {"job_id": job_id})

    def export(self, req: Request) -> Response:
        """Export Contacts: ``{"list_ids": [...], "file_type": "csv"}`` -> 202 ``{"id"}``; the export job is
        ``pending`` for ``job_seconds``, then ``ready`` with pre-signed ``urls`` to gzipped CSV files."""
        body = req.json()
        self._validate("/v3/marketing/contacts/exports", "post", body)
        if body.get("file_type", "csv") != "csv":
            raise _sg_error(400, [{"field": "file_type", "message": "the sandbox exports csv only"}])
        export_id = str(uuid.uuid4())
        list_ids = list(body.get("list_ids") or [])
        with self.lock:
            self.exports[export_id] = {"id": export_id, "status": "pending", "created_at": _now(),
                                       "updated_at": _now(), "expires_at": _now()}  # fmt: skip

        def ready() -> None:
            ids = set().union(*(self.lists.get(i, set()) for i in list_ids)) if list_ids else None
            rows = [c for c in self.contacts.values() if ids is None or c["id"] in ids]
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["CONTACT_ID", "EMAIL", "FIRST_NAME", "LAST_NAME"])
            for c in rows:
                w.writerow([c["id"], c["email"], c.get("first_name", ""), c.get("last_name", "")])
            sig = secrets.token_hex(8)
            self.error_files[f"export-{export_id}"] = (sig, gzip.compress(buf.getvalue().encode()))
            url = f"{self.url}/_files/exports/{export_id}.csv.gz?sig={sig}"
            self.exports[export_id].update(status="ready", completed_at=_now(), contact_count=len(rows), urls=[url])

        self.jobq.submit(ready)
        return Response(202, {"id": export_id, "_metadata": {"self": f"{self.url}{req.path}/{export_id}"}})

    def export_status(self, req: Request) -> Response:
        with self.lock:
            job = dict(self.exports.get(req.params["id"]) or {})
        return Response(200, job) if job else Response(404, {"errors": [{"message": "export not found"}]})

    def export_file(self, req: Request) -> Response:
        m = re.fullmatch(r"/_files/exports/([^/]+)\.csv\.gz", req.path)
        with self.lock:
            entry = self.error_files.get(f"export-{m.group(1)}") if m else None
        if entry is None or req.q("sig") != entry[0]:
            return Response(403, b"<Error><Code>AccessDenied</Code></Error>", {"content-type": "application/xml"})
        if "authorization" in req.headers:
            self.count("errors_file_got_api_key")  # a client must not send its key to a download link
        return Response(200, entry[1], {"content-type": "application/gzip"})
