"""Meta Custom Audiences sandbox: ``POST``/``DELETE /{version}/{audience_id}/users`` with payload + session.

As Meta documents the ``users`` edge: the parameters ``payload`` and ``session`` are form-encoded
(``application/x-www-form-urlencoded`` body, or the query string), each a JSON value; a JSON request body is
refused like a request without ``payload``. The path's Marketing API version must be one Meta still serves
(``activations.destinations.versions``): a retired one is answered with Meta's ``OAuthException`` code 2635.
``audiences``: when given, the only audience ids that exist; another is answered code 100, subcode 33 (Meta's
"object does not exist" refusal). Every answer carries ``X-Business-Use-Case-Usage`` with the share of the
hourly allowance used (and ``estimated_time_to_regain_access`` in minutes when throttled); no ``Retry-After``.

The parameters are checked against Meta's own spec of the CustomAudience node (``POST``/``DELETE users``:
``namespace``, ``payload``, ``session``; committed in tests/data/vendor-specs/meta): another parameter or a
value of another type is answered code 100 "Invalid parameter". Checks, as Meta does: a known schema, every
data row as long as the schema, at most 10,000 rows, hashed keys as 64 lower-case hex characters (anything
else is counted in ``num_invalid_entries``, and the first ``sample_limit`` of them named in
``invalid_entry_samples``), sessions (``batch_seq`` increasing, nothing after ``last_batch_flag``). Errors use the
Graph API shape; throttling is answered like Meta (HTTP 400, code 80003, ``is_transient``), a bad token with code
190.
"""

from __future__ import annotations

import math
import re
import socket
import uuid
from typing import Any
from urllib.parse import parse_qs

import orjson

from activations.destinations.versions import VERSIONS, served
from activations.hashing import META_KEYS
from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox
from activations.sandboxes.spec import graph_edge_errors

SPEC = "meta/CustomAudience.json"  # Meta's SDK codegen spec of the CustomAudience node (tests/data/vendor-specs)

_HASH = re.compile(r"^[0-9a-f]{64}$")
MAX_ROWS = 10_000


def _graph_error(code: int, message: str, status: int = 400, transient: bool = False, subcode: int | None = None
                 ) -> dict[str, Any]:  # fmt: skip
    err = {"message": message, "type": "OAuthException", "code": code, "is_transient": transient,
           "fbtrace_id": uuid.uuid4().hex[:11]}  # fmt: skip
    if subcode is not None:
        err["error_subcode"] = subcode
    return {"error": err}


class MetaSandbox(VendorSandbox):
    """``sample_limit``: how many invalid entries one answer names in ``invalid_entry_samples`` (Meta names a
    sample, not all; it does not publish how many), the rest are only counted in ``num_invalid_entries``."""

    name = "meta"
    # Marketing API business-use-case limit "custom_audience", per ad account per hour (Standard tier):
    # 190,000 + 40 x active custom audiences, at most 700,000. The base 190,000 per 3,600 s is enforced here.
    default_rate_limit = (190_000.0, 3600.0)

    def __init__(self, *, sample_limit: int = 10, audiences: set[str] | None = None, **kw: Any) -> None:
        self.sample_limit = sample_limit
        self.known_audiences = audiences
        super().__init__(**kw)

    def routes(self) -> list[Route]:
        path = r"/(?P<version>v\d+\.\d+)/(?P<id>\d+)/users"
        audience = r"/(?P<version>v\d+\.\d+)/(?P<id>\d+)"
        return [("POST", path, self.add), ("DELETE", path, self.remove), ("GET", audience, self.audience)]

    def audience(self, req: Request) -> Response:
        """``GET /{version}/{audience_id}?fields=id,name``: the custom audience node."""
        return Response(200, {"id": req.params["id"], "name": f"audience {req.params['id']}"})

    def _usage(self, regain_minutes: int = 0) -> dict[str, str]:
        """``X-Business-Use-Case-Usage``: the share of the allowance used, as Meta reports it (whole percent)."""
        used = 0
        if self.bucket is not None:
            used = min(100, int(100 * (self.bucket.capacity - self.bucket.tokens) / self.bucket.capacity))
        entry = {"type": "custom_audience", "call_count": used, "total_cputime": 0, "total_time": 0,
                 "estimated_time_to_regain_access": regain_minutes}  # fmt: skip
        return {"x-business-use-case-usage": orjson.dumps({"1000000000": [entry]}).decode()}

    def handle(self, req: Request, conn: socket.socket) -> Response | None:
        resp = super().handle(req, conn)
        if resp is not None and not req.path.startswith("/_sandbox"):
            resp.headers = {**self._usage(), **resp.headers}
        return resp

    def recorded_body(self, req: Request) -> Any:
        try:
            return self._params(req)
        except SandboxError:
            return super().recorded_body(req)

    @staticmethod
    def _params(req: Request) -> dict[str, Any]:
        """The documented parameters (form body or query string), JSON values decoded."""
        form: dict[str, list[str]] = dict(req.query)
        ctype = req.headers.get("content-type", "").split(";")[0].strip()
        if req.body:
            if ctype != "application/x-www-form-urlencoded":
                return {}
            form.update(parse_qs(req.body.decode(errors="replace")))
        out: dict[str, Any] = {k: v[0] for k, v in form.items()}
        for k in ("payload", "session"):
            if k in form:
                try:
                    out[k] = orjson.loads(form[k][0])
                except orjson.JSONDecodeError:
                    raise SandboxError(400, _graph_error(100, f"(#100) param {k} must be a JSON object")) from None
        return out

    def authorized(self, req: Request) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.token}" or req.q("access_token") == self.token

    def auth_error(self) -> Response:
        return Response(400, _graph_error(190, "Invalid OAuth access token - Cannot parse access token"))

    def rate_limited(self, wait: float) -> Response:
        body = _graph_error(80003, "There have been too many calls to this ad-account.", transient=True)
        return Response(400, body, self.throttle_headers(wait))

    def throttle_headers(self, wait: float) -> dict[str, str]:
        """Meta names no Retry-After: the usage header's ``estimated_time_to_regain_access``, in whole minutes."""
        return self._usage(math.floor(wait / 60) if math.isfinite(wait) else 60)

    def fault_response(self, code: int, message: str | None) -> Any:
        return _graph_error(2, message or "An unexpected error has occurred.", transient=True)

    def reset_store(self) -> None:
        self.audiences: dict[str, dict[str, dict[str, str]]] = {}  # audience -> first identifier -> row
        self.sessions: dict[int, dict[str, Any]] = {}

    def store(self) -> Any:
        return {"audiences": self.audiences, "sessions": {str(k): v for k, v in self.sessions.items()}}

    def members(self, audience_id: str) -> dict[str, dict[str, str]]:
        with self.lock:
            return dict(self.audiences.get(audience_id, {}))

    def _parse(self, req: Request) -> tuple[list[str], list[list[str]], dict[str, Any]]:
        version = req.params["version"]
        if not served("meta_audiences", version):
            latest = VERSIONS["meta_audiences"].default
            raise SandboxError(
                400,
                _graph_error(
                    2635,
                    f"(#2635) You are calling a deprecated version of the Ads "
                    f"API. Please update to the latest version: {latest}.",
                ),
            )
        audience = req.params["id"]
        if self.known_audiences is not None and audience not in self.known_audiences:
            msg = (f"Unsupported post request. Object with ID '{audience}' does not exist, cannot be loaded due to "
                   "missing permissions, or does not support this operation.")  # fmt: skip
            raise SandboxError(400, _graph_error(100, msg, subcode=33))
        body = self._params(req)
        if body and (problems := graph_edge_errors(SPEC, req.method, "users", body)):
            raise SandboxError(400, _graph_error(100, f"(#100) Invalid parameter: {problems[0]}"))
        payload = body.get("payload")
        if not isinstance(payload, dict):
            raise SandboxError(400, _graph_error(100, "(#100) The parameter payload is required"))
        schema = payload.get("schema")
        schema = [schema] if isinstance(schema, str) else schema
        data = payload.get("data")
        if not isinstance(schema, list) or not schema or any(k not in META_KEYS for k in schema):
            raise SandboxError(400, _graph_error(100, f"(#100) Invalid schema {schema!r}"))
        if not isinstance(data, list) or not data:
            raise SandboxError(400, _graph_error(100, "(#100) payload.data must be a non-empty array"))
        if len(data) > MAX_ROWS:
            raise SandboxError(400, _graph_error(100, f"(#100) at most {MAX_ROWS} users per request"))
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(schema):
                raise SandboxError(400, _graph_error(100, f"(#100) data[{i}] does not match the schema length"))
        session = body.get("session") or {}
        if session:
            for k, t in (("session_id", int), ("batch_seq", int), ("last_batch_flag", bool)):
                if not isinstance(session.get(k), t):
                    raise SandboxError(400, _graph_error(100, f"(#100) session.{k} is required ({t.__name__})"))
        return schema, data, session

    def _session(self, audience: str, session: dict[str, Any], n: int) -> int:
        if not session:
            return 0
        sid = session["session_id"]
        st = self.sessions.setdefault(sid, {"audience": audience, "batches": 0, "rows": 0, "closed": False,
                                            "last_seq": 0})  # fmt: skip
        if st["closed"]:
            raise SandboxError(400, _graph_error(2650, f"(#2650) session {sid} is already finished"))
        st["batches"] += 1
        st["rows"] += n
        st["last_seq"] = max(st["last_seq"], session["batch_seq"])
        st["closed"] = session["last_batch_flag"]
        return sid

    def _apply(self, req: Request, add: bool) -> Response:
        schema, data, session = self._parse(req)
        audience = req.params["id"]
        invalid: dict[str, str] = {}
        n_invalid = 0
        with self.lock:
            members = self.audiences.setdefault(audience, {})
            sid = self._session(audience, session, len(data))
            for row in data:
                entry = dict(zip(schema, row, strict=True))
                bad = [v for k, v in entry.items() if v and k != "EXTERN_ID" and not _HASH.match(v)]
                bad += [v for v in entry.values() if v in self.faults.partial_keys]
                if bad:
                    n_invalid += 1
                    if len(invalid) < self.sample_limit:
                        invalid[bad[0]] = self.faults.partial_keys.get(bad[0], "not a SHA-256 hash")
                    continue
                ident = next((v for v in row if v), None)
                if ident is None:
                    n_invalid += 1
                    continue
                if add:
                    members[ident] = entry
                else:
                    members.pop(ident, None)
            self.stats["rows_applied" if add else "rows_removed"] += len(data) - n_invalid
            self.stats["rows_invalid"] += n_invalid
        body = {"audience_id": audience, "session_id": sid, "num_received": len(data)}
        return Response(200, {**body, "num_invalid_entries": n_invalid, "invalid_entry_samples": invalid})

    def add(self, req: Request) -> Response:
        return self._apply(req, add=True)

    def remove(self, req: Request) -> Response:
        return self._apply(req, add=False)
