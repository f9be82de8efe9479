"""Google Ads Customer Match sandbox: offline user data jobs (create, addOperations, run) and the long-running
operation of ``:run`` (``GET /vNN/customers/{cid}/operations/{id}``).

Checks, as the Google Ads API does: the job type and user list resource; ``developer-token`` header; each
operation exactly one of ``create``/``remove`` with 1..20 ``userIdentifiers``, each exactly one of
``hashedEmail``/``hashedPhoneNumber``/``addressInfo``/``thirdPartyUserId``; hashed values 64 lower-case hex;
``addressInfo.countryCode`` two letters and ``postalCode`` NOT hashed; at most 100,000 user identifiers per
addOperations request (``TOO_MANY_USER_IDENTIFIERS``); create and remove operations never mixed in one job
(``CONFLICTING_OPERATION``); a job whose consent is ``DENIED`` refused (``CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS``).
With ``enablePartialFailure`` bad operations come back in ``partialFailureError`` (a GoogleAdsFailure with
``operations`` indexes); without it the whole request fails. Operations on a job that already ran are refused.

``:run`` answers an operation ``{"name", "metadata", "done": false}``; the job stays RUNNING for
``job_seconds`` and is then applied to the list (SUCCESS, operation ``done`` with ``response``), or, after
``fail_jobs(reason)``, FAILED with the operation ``done`` with an ``error``.

Rate limits (``real_rate_limit=True``). Google publishes no requests-per-second figure for the Google Ads API
(it throttles with ``RESOURCE_TEMPORARILY_EXHAUSTED`` from per-customer/developer-token token buckets); it does
publish the daily operations quota per developer token: 15,000 operations per day at Basic access, where an
``AddOfflineUserDataJobOperations`` call counts as ONE operation
(https://developers.google.com/google-ads/api/docs/best-practices/quotas; Customer Match guide:
https://developers.google.com/google-ads/api/docs/remarketing/audience-segments/customer-match/get-started).
The sandbox enforces that daily quota on mutate calls (create, addOperations, run: ``RESOURCE_EXHAUSTED``, no
``Retry-After``) and, as a stand-in for the unpublished token bucket, 10 requests/s.
"""

from __future__ import annotations

import itertools
import re
import socket
import time
from typing import Any

from activations.destinations.versions import served
from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox
from activations.sandboxes.jobs import JobQueue

_HASH = re.compile(r"^[0-9a-f]{64}$")
_KINDS = ("hashedEmail", "hashedPhoneNumber", "addressInfo", "thirdPartyUserId", "mobileId")
MAX_IDENTIFIERS = 100_000
BASIC_ACCESS_DAILY_OPERATIONS = 15_000


def _status(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def _quota(message: str, quota_error: str, retry_seconds: float) -> dict[str, Any]:
    """Google Ads' throttle answer: ``RESOURCE_EXHAUSTED`` with a ``GoogleAdsFailure`` whose ``QuotaErrorDetails``
    carry the ``retryDelay`` to wait (no Retry-After header)."""
    body = _status(429, "RESOURCE_EXHAUSTED", message)
    err = {"errorCode": {"quotaError": quota_error}, "message": message,
           "details": {"quotaErrorDetails": {"rateScope": "DEVELOPER", "rateName": "Requests per developer token",
                                             "retryDelay": f"{retry_seconds:.3f}s"}}}  # fmt: skip
    body["error"]["details"] = [{"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                                 "errors": [err]}]  # fmt: skip
    return body


class GoogleAdsSandbox(VendorSandbox):
    name = "google_ads"
    default_rate_limit = (10.0, 1.0)

    def __init__(
        self, *, developer_token: str = "sandbox-dev-token", job_seconds: float = 0.2,
        daily_operations: int | None = None, **kw: Any,
    ) -> None:  # fmt: skip
        """``job_seconds``: how long a job runs; ``daily_operations``: the daily mutate quota (default: Basic
        access's 15,000 with ``real_rate_limit=True``, none otherwise)."""
        self.developer_token = developer_token
        self.job_seconds = job_seconds
        self.job_failure: str | None = None
        super().__init__(**kw)
        self.daily_operations = daily_operations or (BASIC_ACCESS_DAILY_OPERATIONS if self.real_rate_limit else None)
        self._day = (time.strftime("%Y-%m-%d", time.gmtime()), 0)

    def fail_jobs(self, reason: str | None = "PROCESSING_FAILURE") -> None:
        """Jobs run from now on fail with this reason (None: they succeed again)."""
        self.job_failure = reason

    def handle(self, req: Request, conn: socket.socket) -> Response | None:
        self.jobq.advance()
        m = re.match(r"/(v\d+)/", req.path)
        if m and not served("google_ads_customer_match", m.group(1)):  # a sunset version: every request fails
            self.count("version_retired")
            return Response(404, _status(404, "NOT_FOUND", f"Google Ads API {m.group(1)} is sunset."))
        if self.daily_operations and req.method == "POST" and not req.path.startswith("/_sandbox"):
            with self.lock:
                today = time.strftime("%Y-%m-%d", time.gmtime())
                day, used = self._day if self._day[0] == today else (today, 0)
                if used >= self.daily_operations:
                    self.count("daily_quota_exceeded")
                    body = _quota("Too many requests. Retry in 86400 seconds.", "RESOURCE_EXHAUSTED", 86_400)
                    return Response(429, body)
                self._day = (day, used + 1)
        return super().handle(req, conn)

    def accessible(self, req: Request) -> Response:
        """``GET /{version}/customers:listAccessibleCustomers``: the customers the credentials reach."""
        return Response(200, {"resourceNames": ["customers/1234567890"]})

    def routes(self) -> list[Route]:
        v = r"/v\d+"
        return [
            ("GET", v + r"/customers:listAccessibleCustomers", self.accessible),
            ("GET", v + r"/customers/(?P<cid>\d+)/operations/(?P<op>\d+)", self.get_operation),
            ("POST", v + r"/customers/(?P<cid>\d+)/offlineUserDataJobs:create", self.create),
            (
                "POST",
                v + r"/customers/(?P<cid>\d+)/offlineUserDataJobs/(?P<job>\d+):addOperations",
                self.add_ops,
            ),
            ("POST", v + r"/customers/(?P<cid>\d+)/offlineUserDataJobs/(?P<job>\d+):run", self.run),
        ]

    def credentials(self, cfg: Any) -> dict[str, str]:
        env = {cfg.destination.secret_env: self.token}
        developer_env = (cfg.destination.options or {}).get("developer_token_env")
        if developer_env:
            env[developer_env] = self.developer_token
        return env

    def authorized(self, req: Request) -> bool:
        return (
            req.headers.get("authorization") == f"Bearer {self.token}"
            and req.headers.get("developer-token") == self.developer_token
        )

    def auth_error(self) -> Response:
        return Response(401, _status(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."))

    def rate_limited(self, wait: float) -> Response:
        return Response(429, _quota("Too many requests.", "RESOURCE_TEMPORARILY_EXHAUSTED", max(wait, 0.001)))

    def throttle_headers(self, wait: float) -> dict[str, str]:
        """Google names its retry delay in the error body (``QuotaErrorDetails.retryDelay``), not a header."""
        return {}

    def fault_response(self, code: int, message: str | None) -> Any:
        return _status(code, "INTERNAL" if code >= 500 else "UNAVAILABLE", message or f"injected {code}")

    def reset_store(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.jobq = JobQueue(self.job_seconds, self.lock)
        self.lists: dict[str, dict[str, dict[str, Any]]] = {}  # user list resource -> first identifier -> ids
        self._ids = itertools.count(1000)

    def store(self) -> Any:
        self.jobq.advance()
        return {"jobs": self.jobs, "lists": self.lists}

    def members(self, user_list: str) -> dict[str, dict[str, Any]]:
        self.jobq.advance()
        with self.lock:
            return dict(self.lists.get(user_list, {}))

    def create(self, req: Request) -> Response:
        job = (req.json() or {}).get("job") or {}
        ul = (job.get("customerMatchUserListMetadata") or {}).get("userList", "")
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST" or not re.fullmatch(
            rf"customers/{req.params['cid']}/userLists/\d+", ul
        ):
            raise SandboxError(
                400,
                _status(400, "INVALID_ARGUMENT", "job.type / customerMatchUserListMetadata.userList invalid"),
            )
        consent = (job.get("customerMatchUserListMetadata") or {}).get("consent") or {}
        if "DENIED" in consent.values():
            raise SandboxError(400, _status(400, "INVALID_ARGUMENT", "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS"))
        jid = str(next(self._ids))
        name = f"customers/{req.params['cid']}/offlineUserDataJobs/{jid}"
        with self.lock:
            self.jobs[name] = {"status": "PENDING", "userList": ul, "ops": [], "partial": False, "consent": consent}
        return Response(200, {"resourceName": name})

    def _check_op(self, op: Any) -> str | None:
        if not isinstance(op, dict) or len(op) != 1 or next(iter(op)) not in ("create", "remove"):
            return "operation must hold exactly one of create/remove"
        ids = next(iter(op.values())).get("userIdentifiers")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
            return "userIdentifiers must hold 1..20 identifiers"
        for uid in ids:
            if not isinstance(uid, dict) or len(uid) != 1 or next(iter(uid)) not in _KINDS:
                return "each user identifier must set exactly one identifier"
            kind, val = next(iter(uid.items()))
            if kind in ("hashedEmail", "hashedPhoneNumber") and not _HASH.match(str(val)):
                return f"{kind} is not a SHA-256 hash"
            if kind == "addressInfo":
                if not all(_HASH.match(str(val.get(k, ""))) for k in ("hashedFirstName", "hashedLastName")):
                    return "addressInfo names must be SHA-256 hashes"
                if not re.fullmatch(r"[A-Z]{2}", str(val.get("countryCode", ""))):
                    return "addressInfo.countryCode must be a 2-letter code"
                if _HASH.match(str(val.get("postalCode", ""))):
                    return "addressInfo.postalCode must not be hashed"
            if str(val) in self.faults.partial_keys:
                return self.faults.partial_keys[str(val)]
        return None

    def add_ops(self, req: Request) -> Response:
        body = req.json() or {}
        name = f"customers/{req.params['cid']}/offlineUserDataJobs/{req.params['job']}"
        ops = body.get("operations")
        if not isinstance(ops, list) or not ops:
            raise SandboxError(400, _status(400, "INVALID_ARGUMENT", "operations is required"))
        n_ids = sum(len(next(iter(op.values())).get("userIdentifiers") or []) for op in ops if isinstance(op, dict)
                    and op and isinstance(next(iter(op.values())), dict))  # fmt: skip
        if n_ids > MAX_IDENTIFIERS:
            raise SandboxError(400, _status(400, "INVALID_ARGUMENT", "TOO_MANY_USER_IDENTIFIERS"))
        verbs = {next(iter(op)) for op in ops if isinstance(op, dict) and op}
        with self.lock:
            job = self._found(self.jobs, name)
            if job["status"] != "PENDING":
                raise SandboxError(400, _status(400, "FAILED_PRECONDITION", "job is not PENDING; create a new job"))
            verbs |= {next(iter(op)) for op in job["ops"]}
            if len(verbs & {"create", "remove"}) > 1:
                raise SandboxError(400, _status(400, "INVALID_ARGUMENT", "CONFLICTING_OPERATION: create and remove "
                                                "operations in one job"))  # fmt: skip
        errors = []
        for i, op in enumerate(ops):
            problem = self._check_op(op)
            if problem:
                errors.append({
                    "errorCode": {"offlineUserDataJobError": "INVALID_USER_IDENTIFIER"}, "message": problem,
                    "location": {"fieldPathElements": [{"fieldName": "operations", "index": i}]},
                })  # fmt: skip
        if errors and not body.get("enablePartialFailure"):
            raise SandboxError(400, _status(400, "INVALID_ARGUMENT", errors[0]["message"]))
        bad = {e["location"]["fieldPathElements"][0]["index"] for e in errors}
        with self.lock:
            job["ops"].extend(op for i, op in enumerate(ops) if i not in bad)
            self.stats["rows_refused"] += len(bad)
        if not errors:
            return Response(200, {})
        failure = {
            "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
            "errors": errors,
        }
        return Response(
            200, {"partialFailureError": {"code": 3, "message": errors[0]["message"], "details": [failure]}}
        )

    def run(self, req: Request) -> Response:
        name = f"customers/{req.params['cid']}/offlineUserDataJobs/{req.params['job']}"
        with self.lock:
            job = self._found(self.jobs, name)
            if job["status"] != "PENDING":
                raise SandboxError(400, _status(400, "FAILED_PRECONDITION", "job already ran"))
            job["status"] = "RUNNING"
            op_name = f"customers/{req.params['cid']}/operations/{next(self._ids)}"
            meta = {"@type": "type.googleapis.com/google.ads.googleads.v26.resources.OfflineUserDataJobMetadata"}
            self.operations[op_name] = {"name": op_name, "metadata": meta, "done": False}
            failure = self.job_failure
        self.jobq.submit(lambda: self._process(name, op_name, failure))
        return Response(200, dict(self.operations[op_name]))

    def _process(self, name: str, op_name: str, failure: str | None) -> None:
        job = self.jobs[name]
        op = self.operations[op_name]
        if failure:
            job.update(status="FAILED", failureReason=failure)
            op.update(done=True, error={"code": 13, "message": f"offline user data job failed: {failure}"})
            return
        members = self.lists.setdefault(job["userList"], {})
        for o in job["ops"]:
            verb, payload = next(iter(o.items()))
            ids = payload["userIdentifiers"]
            first = next(iter(ids[0].values()))
            key = first if isinstance(first, str) else str(first)
            if verb == "create":
                members[key] = {k: v for uid in ids for k, v in uid.items()}
                self.stats["rows_applied"] += 1
            else:
                members.pop(key, None)
                self.stats["rows_removed"] += 1
        job["status"] = "SUCCESS"
        op.update(done=True, response={"@type": "type.googleapis.com/google.protobuf.Empty"})

    def get_operation(self, req: Request) -> Response:
        name = f"customers/{req.params['cid']}/operations/{req.params['op']}"
        with self.lock:
            return Response(200, dict(self._found(self.operations, name)))

    @staticmethod
    def _found(resources: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
        if name not in resources:
            raise SandboxError(404, _status(404, "NOT_FOUND", f"{name} not found"))
        return resources[name]
