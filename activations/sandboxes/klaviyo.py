"""Klaviyo sandbox: profile bulk import jobs (asynchronous), their status and import errors, profile look-up
by email, list relationships.

Request bodies are validated against Klaviyo's own OpenAPI documents (``stable_categories_profiles.json``,
``stable_categories_lists.json``); the ``revision`` header is required; errors use Klaviyo's JSON:API shape.

``POST /api/profile-bulk-import-jobs`` validates synchronously and answers ``202`` with the job ``queued``; the
job is processed ``job_seconds`` later. ``GET /api/profile-bulk-import-jobs/{id}`` answers the job (status
``queued`` then ``complete``, ``total_count``/``completed_count``/``failed_count``) and ``GET .../import-errors``
the profiles it refused (fault ``partial``), paginated (``page[size]`` ≤ 100, ``page[cursor]``, ``links.next``),
each with ``source.pointer`` and ``original_payload``.

Rate limits: with ``real_rate_limit=True`` every endpoint gets the burst and steady limits Klaviyo publishes for
it, read from the ``x-klaviyo-ratelimit`` of each operation in the same OpenAPI documents (e.g. bulk import jobs
and their status/errors: burst 10/s, steady 150/m; ``GET /api/profiles``: 75/s, 750/m); each endpoint has its own
two buckets, as Klaviyo counts them per endpoint.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from activations.destinations.versions import served
from activations.sandboxes.base import Request, Response, Route, SandboxError, TokenBucket, VendorSandbox
from activations.sandboxes.jobs import JobQueue
from activations.sandboxes.spec import SpecMissing, errors, operation_extension, request_validator_ct

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


def _now() -> str:
    return datetime.now(UTC).isoformat()


_PERIOD = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _limit(text: str) -> tuple[float, float]:
    """``"10/s"`` -> (10, 1.0); ``"150/m"`` -> (150, 60.0)."""
    n, _, unit = text.partition("/")
    return float(n), _PERIOD[unit.strip()[:1]]


class KlaviyoSandbox(VendorSandbox):
    name = "klaviyo"
    # the steady limit of the bulk import endpoints (150/min); the burst (10/s) sits on top with real limits
    default_rate_limit = (10.0, 4.0)

    # endpoint (method, spec path) -> the regex of the paths it serves
    ENDPOINTS: tuple[tuple[str, str, str], ...] = (
        ("POST", "/api/profile-bulk-import-jobs", r"/api/profile-bulk-import-jobs"),
        ("GET", "/api/profile-bulk-import-jobs/{job_id}", r"/api/profile-bulk-import-jobs/[^/]+"),
        ("GET", "/api/profile-bulk-import-jobs/{id}/import-errors",
         r"/api/profile-bulk-import-jobs/[^/]+/import-errors"),
        ("GET", "/api/profiles", r"/api/profiles"),
        ("POST", "/api/lists/{id}/relationships/profiles", r"/api/lists/[^/]+/relationships/profiles"),
        ("DELETE", "/api/lists/{id}/relationships/profiles", r"/api/lists/[^/]+/relationships/profiles"),
    )  # fmt: skip

    def __init__(self, *, job_seconds: float = 0.2, **kw: Any) -> None:
        """``job_seconds``: how long an import job stays queued before it is processed."""
        self.job_seconds = job_seconds
        super().__init__(**kw)
        self._endpoint_buckets: dict[str, list[TokenBucket]] = {}
        if self.real_rate_limit:
            for method, spec_path, _ in self.ENDPOINTS:
                spec = PROFILES_SPEC if "/profile" in spec_path and "/lists/" not in spec_path else LISTS_SPEC
                try:
                    lim = operation_extension(spec, spec_path, method, "x-klaviyo-ratelimit")
                except SpecMissing:
                    lim = None
                lim = lim or {"burst": "10/s", "steady": "150/m"}
                self._endpoint_buckets[f"{method} {spec_path}"] = [
                    TokenBucket(*_limit(lim["burst"])),
                    TokenBucket(*_limit(lim["steady"])),
                ]

    def endpoint(self, req: Request) -> str | None:
        for method, spec_path, rx in self.ENDPOINTS:
            if method == req.method and re.fullmatch(rx, req.path):
                return f"{method} {spec_path}"
        return None

    def buckets(self, req: Request) -> list[TokenBucket]:
        if not self.real_rate_limit:
            return super().buckets(req)
        return self._endpoint_buckets.get(self.endpoint(req) or "", [])

    def handle(self, req: Request, conn: socket.socket) -> Response | None:
        self.jobq.advance()
        revision = req.headers.get("revision")
        if revision and not req.path.startswith("/_sandbox") and not served("klaviyo", revision):
            self.count("version_retired")  # a retired revision is gone, as Klaviyo answered its retired v1/v2 APIs
            return _refuse(410, [_err(410, "Gone", f"revision {revision} is retired; use a supported revision")]
                           ).response  # fmt: skip
        return super().handle(req, conn)

    def accounts(self, req: Request) -> Response:
        """``GET /api/accounts``: the account of the private API key (JSON:API)."""
        account = {"type": "account", "id": "SBX001", "attributes": {"test_account": True}}
        return Response(200, {"data": [account], "links": {"self": "/api/accounts/"}})

    def routes(self) -> list[Route]:
        return [
            ("GET", r"/api/accounts/?", self.accounts),
            ("POST", r"/api/profile-bulk-import-jobs", self.bulk_import),
            ("GET", r"/api/profile-bulk-import-jobs/(?P<id>[^/]+)", self.get_job),
            ("GET", r"/api/profile-bulk-import-jobs/(?P<id>[^/]+)/import-errors", self.get_import_errors),
            ("GET", r"/api/profiles", self.get_profiles),
            ("POST", r"/api/lists/(?P<id>[^/]+)/relationships/profiles", self.add_to_list),
            ("DELETE", r"/api/lists/(?P<id>[^/]+)/relationships/profiles", self.remove_from_list),
            ("POST", r"/api/data-privacy-deletion-jobs", self.deletion_job),
            ("GET", r"/api/lists/(?P<id>[^/]+)/profiles", self.list_profiles),
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
        self.import_errors: dict[str, list[dict[str, Any]]] = {}
        self.jobq = JobQueue(self.job_seconds, self.lock)

    def store(self) -> Any:
        self.jobq.advance()
        return {"profiles": self.profiles, "lists": {k: sorted(v) for k, v in self.lists.items()}}

    def list_members(self, list_id: str) -> dict[str, dict[str, Any]]:
        self.jobq.advance()
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
        if bad:
            self.count("rows_refused", len(bad))
            raise _refuse(400, bad)
        lists = [x["id"] for x in body["data"].get("relationships", {}).get("lists", {}).get("data", [])]
        job_id = str(uuid.uuid4())
        with self.lock:
            refusals = dict(self.faults.partial_keys)  # decided now, applied when the job runs
            self.jobs[job_id] = {"status": "queued", "created_at": _now(), "total_count": len(profiles),
                                 "completed_count": 0, "failed_count": 0, "completed_at": None,
                                 "expires_at": None, "started_at": None, "lists": lists}  # fmt: skip
        self.jobq.submit(lambda: self._run_import(job_id, profiles, lists, refusals))
        return Response(202, self._job_doc(job_id))

    def _run_import(self, job_id: str, profiles: list[dict[str, Any]], lists: list[str],
                    refusals: dict[str, str]) -> None:  # fmt: skip
        job = self.jobs[job_id]
        job.update(status="processing", started_at=_now())
        errs = []
        for i, p in enumerate(profiles):
            attrs = {**p["attributes"], "email": p["attributes"]["email"].lower()}
            if attrs["email"] in refusals:
                e = _err(400, "Invalid input.", refusals[attrs["email"]], f"/data/attributes/profiles/data/{i}")
                errs.append({"type": "import-error", "id": e.pop("id"),
                             "attributes": {"code": e["code"], "title": e["title"], "detail": e["detail"],
                                            "source": e["source"], "original_payload": p["attributes"]}})  # fmt: skip
                continue
            pid = self.by_email.get(attrs["email"]) or "01" + uuid.uuid4().hex[:24].upper()
            cur = self.profiles.get(pid, {})
            merged = {**cur, **attrs}
            if "properties" in cur or "properties" in attrs:
                merged["properties"] = {**cur.get("properties", {}), **attrs.get("properties", {})}
            self.profiles[pid] = merged
            self.by_email[attrs["email"]] = pid
            for lst in lists:
                self.lists.setdefault(lst, set()).add(pid)
        self.import_errors[job_id] = errs
        self.stats["rows_applied"] += len(profiles) - len(errs)
        self.stats["rows_refused"] += len(errs)
        job.update(status="complete", completed_count=len(profiles) - len(errs), failed_count=len(errs),
                   completed_at=_now())  # fmt: skip

    def _job_doc(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = dict(self.jobs[job_id])
        lists = job.pop("lists")
        job = {k: v for k, v in job.items() if v is not None}  # unset timestamps are left out
        rel = {"lists": {"data": [{"type": "list", "id": x} for x in lists]}}
        return {"data": {"type": "profile-bulk-import-job", "id": job_id, "attributes": job, "relationships": rel,
                         "links": {"self": f"{self.url}/api/profile-bulk-import-jobs/{job_id}/"}}}  # fmt: skip

    def _need_revision(self, req: Request) -> None:
        if not req.headers.get("revision"):
            raise _refuse(400, [_err(400, "Missing revision header", "the revision header is required")])

    def get_job(self, req: Request) -> Response:
        self._need_revision(req)
        if req.params["id"] not in self.jobs:
            raise _refuse(404, [_err(404, "Not found.", f"profile-bulk-import-job {req.params['id']} not found")])
        return Response(200, self._job_doc(req.params["id"]))

    def get_import_errors(self, req: Request) -> Response:
        self._need_revision(req)
        job_id = req.params["id"]
        if job_id not in self.jobs:
            raise _refuse(404, [_err(404, "Not found.", f"profile-bulk-import-job {job_id} not found")])
        size = int(req.q("page[size]") or 20)
        if not 1 <= size <= 100:
            raise _refuse(400, [_err(400, "Invalid input.", "page[size] must be 1..100", None)])
        cursor = req.q("page[cursor]")
        start = int(base64.urlsafe_b64decode(cursor).decode()) if cursor else 0
        with self.lock:
            errs = list(self.import_errors.get(job_id, []))
        page = errs[start : start + size]
        nxt = None
        if start + size < len(errs):
            c = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            nxt = f"{self.url}/api/profile-bulk-import-jobs/{job_id}/import-errors?page%5Bsize%5D={size}" \
                  f"&page%5Bcursor%5D={quote(c)}"  # fmt: skip
        links = {"self": f"{self.url}{req.path}", **({"next": nxt} if nxt else {})}
        return Response(200, {"data": page, "links": links})

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

    def deletion_job(self, req: Request) -> Response:
        """Request Profile Deletion: ``data.attributes.profile.data.attributes`` holds exactly one of
        ``email``, ``phone_number`` or ``id``; every matching profile is deleted (with its list memberships).
        Klaviyo answers 202 with no body and deletes asynchronously; the sandbox deletes at once."""
        if not req.headers.get("revision"):
            raise _refuse(400, [_err(400, "Missing revision header", "the revision header is required")])
        if not req.headers.get("content-type", "").startswith(JSONAPI):
            raise _refuse(415, [_err(415, "Unsupported media type", f"use {JSONAPI}")])
        body = req.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != "data-privacy-deletion-job":
            detail = "data.type must be data-privacy-deletion-job"
            raise _refuse(400, [_err(400, "Invalid input.", detail, "/data/type")])
        prof = ((data.get("attributes") or {}).get("profile") or {}).get("data") or {}
        attrs = prof.get("attributes") or {}
        given = [k for k in ("email", "phone_number", "id") if attrs.get(k)]
        if prof.get("type") != "profile" or len(given) != 1:
            raise _refuse(400, [_err(400, "Invalid input.", "exactly one of email, phone_number or id",
                                     "/data/attributes/profile/data/attributes")])  # fmt: skip
        kind, value = given[0], str(attrs[given[0]])
        with self.lock:
            if kind == "id":
                ids = [value] if value in self.profiles else []
            elif kind == "email":
                ids = [self.by_email[value.lower()]] if value.lower() in self.by_email else []
            else:
                ids = [i for i, p in self.profiles.items() if p.get("phone_number") == value]
            for i in ids:
                p = self.profiles.pop(i)
                self.by_email.pop(str(p.get("email", "")).lower(), None)
                for members in self.lists.values():
                    members.discard(i)
            self.stats["rows_deleted"] += len(ids)
        return Response(202)

    def list_profiles(self, req: Request) -> Response:
        """``GET /api/lists/{id}/profiles`` with ``page[size]`` (at most 100) and ``page[cursor]``."""
        if not req.headers.get("revision"):
            raise _refuse(400, [_err(400, "Missing revision header", "the revision header is required")])
        size = int(req.q("page[size]") or 20)
        if size > 100:
            raise _refuse(400, [_err(400, "Invalid input.", "page[size] must be at most 100")])
        cursor = req.q("page[cursor]")
        start = int(base64.urlsafe_b64decode(cursor).decode()) if cursor else 0
        with self.lock:
            if req.params["id"] not in self.lists:
                raise _refuse(404, [_err(404, "Not found.", "list not found")])
            ids = sorted(self.lists[req.params["id"]])
            data = [{"type": "profile", "id": i, "attributes": {"email": self.profiles[i]["email"]}}
                    for i in ids[start : start + size]]  # fmt: skip
        nxt = None
        if start + size < len(ids):
            c = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            nxt = f"{self.url}/api/lists/{req.params['id']}/profiles?page%5Bsize%5D={size}&page%5Bcursor%5D={quote(c)}"
        return Response(200, {"data": data, "links": {"self": f"{self.url}{req.path}", "next": nxt}})
