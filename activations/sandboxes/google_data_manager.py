"""Google Data Manager API (v1) sandbox: ``audienceMembers:ingest`` / ``audienceMembers:remove``,
``requestStatus:retrieve`` and ``accountTypes/{type}/accounts/{id}/userLists/{id}`` (get), as Google's REST
reference describes them.

Refused as Google refuses them, fail-fast (one bad record refuses the whole request, nothing applied):
``400 INVALID_ARGUMENT`` with ``google.rpc.BadRequest.fieldViolations`` naming ``audienceMembers[i]...`` for a
digest that is not a SHA-256 in the request's ``encoding`` (``INVALID_HEX_ENCODING``,
``INVALID_BASE64_ENCODING``, ``INVALID_SHA256_FORMAT``), a member with no or more than 10 identifiers
(``INVALID_AUDIENCE_MEMBER``, ``TOO_MANY_USER_IDENTIFIERS``), a region code that is not ISO 3166-1 alpha-2;
request-level: more than 10,000 members (``TOO_MANY_AUDIENCE_MEMBERS``), no ``encoding``
(``REQUIRED_FIELD_MISSING``), a consent value outside the enum (``INVALID_ENUM_VALUE``), an unknown user list
(``INVALID_USER_LIST_ID``), an ingest without accepted Customer Match terms when the account has not signed
them (``TERMS_AND_CONDITIONS_NOT_SIGNED``); 401 ``UNAUTHENTICATED`` without the bearer token. Every body is
also validated against Google's discovery document (``tests/data/vendor-specs/google_data_manager``): an unknown
field, a wrong type or a value outside an enum is ``400 INVALID_ARGUMENT``.

Diagnostics: a request is ``PROCESSING`` at its first status read and ``SUCCESS`` after (``FAILED`` with
``errorInfo.errorCounts`` for a request holding a key queued with ``inject("partial", keys=[...])``, the
email's hex digest). The user list's ``sizeInfo`` counts its members.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import uuid
from typing import Any

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox
from activations.sandboxes.spec import discovery_validator

SPEC = "google_data_manager/datamanager.v1.json"  # Google's discovery document (tests/data/vendor-specs)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ERR = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip


def _status(code: int, reason: str, message: str, violations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if violations:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations})
    details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                    "domain": "datamanager.googleapis.com"})  # fmt: skip
    return {"error": {"code": code, "message": message, "status": _ERR.get(code, "UNKNOWN"), "details": details}}


class GoogleDataManagerSandbox(VendorSandbox):
    name = "google_data_manager"
    default_rate_limit = (300.0, 60.0)  # requests per minute per project (see docs/destinations.md)

    def __init__(self, *, user_lists: tuple[str, ...] = ("555",), terms_signed: bool = True, **kw: Any) -> None:
        self.user_lists = set(user_lists)
        self.terms_signed = terms_signed
        self._ids = threading.Lock()
        super().__init__(**kw)

    def routes(self) -> list[Route]:
        return [
            ("POST", r"/v1/audienceMembers:ingest", self.ingest),
            ("POST", r"/v1/audienceMembers:remove", self.remove),
            ("GET", r"/v1/requestStatus:retrieve", self.request_status),
            ("GET", r"/v1/accountTypes/(?P<type>[A-Z_]+)/accounts/(?P<acct>\d+)/userLists/(?P<ul>\d+)", self.user_list),
        ]

    def auth_error(self) -> Response:
        return Response(401, _status(401, "UNAUTHENTICATED", "Request is missing required authentication credential."))

    def rate_limited(self, wait: float) -> Response:
        body = _status(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Requests'.")
        body["error"]["details"].append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                         "retryDelay": f"{max(wait, 0.001):.3f}s"})  # fmt: skip
        return Response(429, body)

    def fault_response(self, code: int, message: str | None) -> Any:
        return _status(code, _ERR.get(code, "UNKNOWN"), message or f"injected {code}")

    def reset_store(self) -> None:
        self.members: dict[str, dict[str, list[Any]]] = {ul: {} for ul in self.user_lists}
        self.statuses: dict[str, dict[str, Any]] = {}

    def store(self) -> Any:
        return {"user_lists": {ul: sorted(m) for ul, m in self.members.items()}, "requests": self.statuses}

    # --- validation -----------------------------------------------------------------------------------------
    def _digest(self, value: Any, encoding: str, field: str, violations: list[dict[str, Any]]) -> str | None:
        s = str(value)
        if encoding == "HEX":
            if not re.fullmatch(r"[0-9a-fA-F]+", s) or len(s) % 2:
                violations.append({"field": field, "reason": "INVALID_HEX_ENCODING", "description": "not hex"})
                return None
            raw = bytes.fromhex(s)
        else:
            try:
                raw = base64.b64decode(s, validate=True)
            except (binascii.Error, ValueError):
                violations.append({"field": field, "reason": "INVALID_BASE64_ENCODING", "description": "not base64"})
                return None
        if len(raw) != 32:
            violations.append({"field": field, "reason": "INVALID_SHA256_FORMAT", "description": "not SHA-256"})
            return None
        return raw.hex()

    def _check(self, req: Request, *, ingest: bool) -> tuple[str, list[list[dict[str, Any]]]]:
        body = req.json()
        if not isinstance(body, dict):
            raise SandboxError(400, _status(400, "INVALID_ARGUMENT", "Invalid JSON payload."))
        dests = body.get("destinations") or []
        members = body.get("audienceMembers") or []
        if not dests or not members:
            msg = "destinations and audienceMembers are required"
            raise SandboxError(400, _status(400, "REQUIRED_FIELD_MISSING", msg))
        if len(dests) > 10:
            raise SandboxError(400, _status(400, "TOO_MANY_DESTINATIONS", "At most 10 destinations per request."))
        if len(members) > 10_000:
            raise SandboxError(400, _status(400, "TOO_MANY_AUDIENCE_MEMBERS", "At most 10000 audience members."))
        encoding = body.get("encoding")
        if encoding not in ("HEX", "BASE64"):
            raise SandboxError(400, _status(400, "REQUIRED_FIELD_MISSING", "encoding is required for UserData."))
        ul = str(dests[0].get("productDestinationId", ""))
        op = dests[0].get("operatingAccount") or {}
        if not op.get("accountId") or op.get("accountType") not in (
            "GOOGLE_ADS",
            "DISPLAY_VIDEO_ADVERTISER",
            "DISPLAY_VIDEO_PARTNER",
            "DATA_PARTNER",
        ):
            raise SandboxError(400, _status(400, "INVALID_DESTINATION", "operatingAccount is not valid."))
        if ul not in self.members:
            raise SandboxError(400, _status(400, "INVALID_USER_LIST_ID", f"User list {ul} is not valid."))
        consent = body.get("consent") or {}
        for k, v in consent.items():
            if k not in ("adUserData", "adPersonalization") or v not in (
                "CONSENT_GRANTED",
                "CONSENT_DENIED",
                "CONSENT_STATUS_UNSPECIFIED",
            ):
                raise SandboxError(400, _status(400, "INVALID_ENUM_VALUE", f"consent.{k}: {v!r} is not valid."))
        tos = (body.get("termsOfService") or {}).get("customerMatchTermsOfServiceStatus")
        if ingest and not self.terms_signed and tos != "ACCEPTED":
            msg = "Customer Match terms not accepted."
            raise SandboxError(400, _status(400, "TERMS_AND_CONDITIONS_NOT_SIGNED", msg))
        violations: list[dict[str, Any]] = []
        out: list[list[dict[str, Any]]] = []
        kind_sets: set[tuple[str, ...]] = set()
        for i, m in enumerate(members):
            m = m or {}
            kinds = [k for k in ("compositeData", "userData", "mobileData", "userIdData", "pairData") if k in m]
            kind_sets.add(tuple(kinds))
            data = m.get("userData") or (m.get("compositeData") or {}).get("userData") or {}
            ids = data.get("userIdentifiers") or []
            path = "userData" if "userData" in m else "compositeData.userData"
            where = f"audienceMembers[{i}].{path}.userIdentifiers"
            if not ids:
                violations.append({"field": where, "reason": "INVALID_AUDIENCE_MEMBER", "description": "empty"})
                continue
            if len(ids) > 10:
                violations.append({"field": where, "reason": "TOO_MANY_USER_IDENTIFIERS", "description": "max 10"})
                continue
            norm: list[dict[str, Any]] = []
            for j, ident in enumerate(ids):
                f = f"{where}[{j}]"
                if "address" in ident:
                    a = ident["address"] or {}
                    if not re.fullmatch(r"[A-Z]{2}", str(a.get("regionCode", ""))):
                        violations.append({"field": f"{f}.address.regionCode", "reason": "INVALID_FORMAT",
                                           "description": "ISO 3166-1 alpha-2 expected"})  # fmt: skip
                    g = self._digest(a.get("givenName", ""), encoding, f"{f}.address.givenName", violations)
                    fam = self._digest(a.get("familyName", ""), encoding, f"{f}.address.familyName", violations)
                    norm.append({"address": {**a, "givenName": g, "familyName": fam}})
                elif len(ident) == 1 and next(iter(ident)) in ("emailAddress", "phoneNumber"):
                    ((k, v),) = ident.items()
                    norm.append({k: self._digest(v, encoding, f"{f}.{k}", violations)})
                else:
                    violations.append({"field": f, "reason": "INVALID_FORMAT", "description": "unknown identifier"})
            out.append(norm)
        if len(kind_sets) > 1:  # every member of a request carries the same kind of data
            msg = "Every audience member of a request must have the same type of data."
            raise SandboxError(400, _status(400, "MULTIPLE_DATA_TYPES_NOT_ALLOWED", msg))
        if violations:
            msg = "Request contains an invalid argument."
            raise SandboxError(400, _status(400, "INVALID_ARGUMENT", msg, violations))
        self._spec_check(body, ingest=ingest)
        return ul, out

    def _spec_check(self, body: dict[str, Any], *, ingest: bool) -> None:
        """What the checks above leave, against Google's discovery document: a field the request message does
        not define, a value of the wrong type or outside an enum is refused as Google's JSON mapping refuses it."""
        method = "datamanager.audienceMembers." + ("ingest" if ingest else "remove")
        problems = sorted(discovery_validator(SPEC, method).iter_errors(body), key=lambda e: list(e.absolute_path))
        if problems:
            violations = [{"field": ".".join(str(p) for p in e.absolute_path) or "(body)", "reason": "INVALID_FORMAT",
                           "description": e.message[:200]} for e in problems[:5]]  # fmt: skip
            msg = f"Invalid JSON payload received. {violations[0]['field']}: {violations[0]['description']}"
            raise SandboxError(400, _status(400, "INVALID_ARGUMENT", msg, violations))

    def _accept(self, ul: str, members: list[list[dict[str, Any]]], *, add: bool) -> Response:
        emails = [next((i["emailAddress"] for i in m if "emailAddress" in i), None) for m in members]
        failed = sum(1 for e in emails if e and e in self.faults.partial_keys)
        with self.lock:
            for m, e in zip(members, emails, strict=True):
                if e and e in self.faults.partial_keys:
                    continue  # a record Google could not process: counted in the diagnostics, not applied
                key = e or orjson_key(m)
                if add:
                    self.members[ul][key] = m
                else:
                    self.members[ul].pop(key, None)
            self.stats["rows_applied" if add else "rows_deleted"] += len(members) - failed
            rid = str(uuid.uuid4())
            per: dict[str, Any] = {"requestStatus": "FAILED" if failed else "SUCCESS"}
            if failed:
                per["errorInfo"] = {"errorCounts": [{"reason": "INVALID_AUDIENCE_MEMBER", "recordCount": str(failed)}]}
            status_key = "audienceMembersIngestionStatus" if add else "audienceMembersRemovalStatus"
            inner = "userDataIngestionStatus" if add else "userDataRemovalStatus"
            per[status_key] = {inner: {"recordCount": str(len(members)),
                                       "userIdentifierCount": str(sum(len(m) for m in members))}}  # fmt: skip
            self.statuses[rid] = {"reads": 0, "status": per}
        return Response(200, {"requestId": rid})

    def ingest(self, req: Request) -> Response:
        ul, members = self._check(req, ingest=True)
        return self._accept(ul, members, add=True)

    def remove(self, req: Request) -> Response:
        ul, members = self._check(req, ingest=False)
        return self._accept(ul, members, add=False)

    def request_status(self, req: Request) -> Response:
        rid = req.q("requestId")
        with self.lock:
            st = self.statuses.get(rid or "")
            if st is None:
                raise SandboxError(404, _status(404, "NOT_FOUND", f"Request {rid} not found."))
            st["reads"] += 1
            per = {"requestStatus": "PROCESSING"} if st["reads"] == 1 else st["status"]
        return Response(200, {"requestStatusPerDestination": [per]})

    def user_list(self, req: Request) -> Response:
        ul = req.params["ul"]
        if ul not in self.members:
            raise SandboxError(404, _status(404, "NOT_FOUND", f"User list {ul} not found."))
        n = len(self.members[ul])
        name = f"accountTypes/{req.params['type']}/accounts/{req.params['acct']}/userLists/{ul}"
        return Response(200, {"name": name, "id": ul, "displayName": f"list {ul}", "membershipStatus": "OPEN",
                              "sizeInfo": {"displayNetworkMembersCount": str(n),
                                           "searchNetworkMembersCount": str(n)}})  # fmt: skip

    def member_digests(self, ul: str = "555") -> set[str]:
        with self.lock:
            return set(self.members.get(ul, {}))


def orjson_key(member: list[dict[str, Any]]) -> str:
    return repr(sorted(str(i) for i in member))
