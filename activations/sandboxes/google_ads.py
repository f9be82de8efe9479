"""Google Ads Customer Match sandbox: offline user data jobs (create, addOperations, run).

Checks, as the Google Ads API does: the job type and user list resource; ``developer-token`` header; each
operation exactly one of ``create``/``remove`` with 1..20 ``userIdentifiers``, each exactly one of
``hashedEmail``/``hashedPhoneNumber``/``addressInfo``/``thirdPartyUserId``; hashed values 64 lower-case hex;
``addressInfo.countryCode`` two letters and ``postalCode`` NOT hashed. With ``enablePartialFailure`` bad
operations come back in ``partialFailureError`` (a GoogleAdsFailure with ``operations`` indexes); without it
the whole request fails. Operations on a job that already ran are refused.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox

_HASH = re.compile(r"^[0-9a-f]{64}$")
_KINDS = ("hashedEmail", "hashedPhoneNumber", "addressInfo", "thirdPartyUserId", "mobileId")


def _status(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


class GoogleAdsSandbox(VendorSandbox):
    name = "google_ads"
    default_rate_limit = (10.0, 1.0)

    def __init__(self, *, developer_token: str = "sandbox-dev-token", **kw: Any) -> None:
        self.developer_token = developer_token
        super().__init__(**kw)

    def routes(self) -> list[Route]:
        v = r"/v\d+"
        return [
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
        body = _status(429, "RESOURCE_EXHAUSTED", "Too many requests.")
        return Response(429, body, {"retry-after": f"{max(wait, 0.001):.3f}"})

    def fault_response(self, code: int, message: str | None) -> Any:
        return _status(code, "INTERNAL" if code >= 500 else "UNAVAILABLE", message or f"injected {code}")

    def reset_store(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, dict[str, dict[str, Any]]] = {}  # user list resource -> first identifier -> ids
        self._ids = itertools.count(1000)

    def store(self) -> Any:
        return {"jobs": self.jobs, "lists": self.lists}

    def members(self, user_list: str) -> dict[str, dict[str, Any]]:
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
        jid = str(next(self._ids))
        name = f"customers/{req.params['cid']}/offlineUserDataJobs/{jid}"
        with self.lock:
            self.jobs[name] = {"status": "PENDING", "userList": ul, "ops": [], "partial": False}
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
        with self.lock:
            job = self.jobs.get(name)
            if job is None:
                raise SandboxError(404, _status(404, "NOT_FOUND", f"{name} not found"))
            if job["status"] != "PENDING":
                raise SandboxError(400, _status(400, "FAILED_PRECONDITION", "job is not PENDING; create a new job"))
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
            "@type": "type.googleapis.com/google.ads.googleads.v18.errors.GoogleAdsFailure",
            "errors": errors,
        }
        return Response(
            200, {"partialFailureError": {"code": 3, "message": errors[0]["message"], "details": [failure]}}
        )

    def run(self, req: Request) -> Response:
        name = f"customers/{req.params['cid']}/offlineUserDataJobs/{req.params['job']}"
        with self.lock:
            job = self.jobs.get(name)
            if job is None:
                raise SandboxError(404, _status(404, "NOT_FOUND", f"{name} not found"))
            if job["status"] != "PENDING":
                raise SandboxError(400, _status(400, "FAILED_PRECONDITION", "job already ran"))
            members = self.lists.setdefault(job["userList"], {})
            for op in job["ops"]:
                verb, payload = next(iter(op.items()))
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
        return Response(200, {"name": f"{name}/operations/{next(self._ids)}", "done": False})
