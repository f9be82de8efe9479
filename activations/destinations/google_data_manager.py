"""Google Customer Match through the Data Manager API (v1), Google's path for Customer Match uploads since
the Google Ads API stopped taking them from new developer tokens (2026-04-01).

Per batch (at most 10,000 audience members per request, Google's cap):
1. ``POST {base_url}/v1/audienceMembers:ingest`` (adds) or ``POST {base_url}/v1/audienceMembers:remove``
   (removals) with ``{"destinations": [{"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId"},
   "loginAccount"?, "productDestinationId": <user list id>}], "audienceMembers": [{"compositeData": {"userData":
   {"userIdentifiers": [{"emailAddress"} | {"phoneNumber"} | {"address": {"givenName", "familyName",
   "regionCode", "postalCode"}}]}}}], "encoding": "HEX" | "BASE64"}``; an ingest also carries the request-level
   ``consent`` (``adUserData``/``adPersonalization``: ``CONSENT_GRANTED`` | ``CONSENT_DENIED``) and
   ``termsOfService.customerMatchTermsOfServiceStatus``. The answer is ``{"requestId"}``.
2. Google validates fail-fast: one bad record refuses the whole request (400 ``INVALID_ARGUMENT``) with
   ``google.rpc.BadRequest`` ``fieldViolations`` naming ``audienceMembers[i]...``; those rows are rejected and
   the rest sent again. Refusals about the request or the account (a missing or wrong user list, a permission,
   unsigned terms, a quota) name no row: ``refusal_scope`` says ``request`` so they are not split row by row.
3. Diagnostics: ``GET {base_url}/v1/requestStatus:retrieve?requestId=...`` polled (bounded, options
   ``job_poll_timeout_seconds`` (default 30), ``job_poll_interval_seconds``, ``job_poll_max_interval_seconds``)
   until ``requestStatus`` is not ``PROCESSING``. ``SUCCESS``: the rows are delivered. ``FAILED``: every row of
   the request is rejected with Google's error counts (``errorInfo.errorCounts[].reason``).
   ``PARTIAL_SUCCESS``: Google counts the failed records without naming them, so the rows are acknowledged
   with the counts in their outcome, and a warning names the request. Still ``PROCESSING`` at the timeout: the
   rows are acknowledged with the request id (Google has them), and a warning says so.
4. The user list is read back after each request (``GET {base_url}/v1/accountTypes/GOOGLE_ADS/accounts/
   {account}/userLists/{id}``): ``sizeInfo`` (display and search network members) is logged and kept in
   ``last_list_size``.

User identifiers follow Google's formatting guide (``activations.hashing``): SHA-256 of the normalized email
(gmail dots and +tags removed), phone (E.164), given and family name; region and postal code not hashed; the
digest in the chosen ``encoding`` (``HEX``, the default, or ``BASE64`` of the 32 digest bytes). At most 10
identifiers per member. Destination fields: ``email``, ``phone``, ``first_name``, ``last_name``,
``country_code``, ``postal_code``; the primary key column maps to ``email``.

Auth: ``Authorization: Bearer <OAuth access token with the datamanager scope>`` from ``secret_env``.
Options: ``account_id`` and ``user_list_id`` (required), ``login_account_id``, ``account_type`` (default
``GOOGLE_ADS``), ``encoding``, ``ad_user_data_consent`` / ``ad_personalization_consent`` (``GRANTED``, the
default since the activation models send only people with ads consent, or ``DENIED``), ``default_region``.
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any, Literal
from urllib.parse import quote

import httpx
import orjson

from activations.destinations.base import (
    Call,
    Destination,
    PreparedRequest,
    Record,
    RowResult,
    Unconfirmed,
    answer_of,
    require_dict,
)
from activations.destinations.jobs import JobPolling, json_object, poll
from activations.hashing import google_hashed_email, google_user_data
from outflow.errors import OutflowError

log = logging.getLogger(__name__)

FIELDS = ("email", "phone", "first_name", "last_name", "country_code", "postal_code")
MAX_MEMBERS = 10_000  # TOO_MANY_AUDIENCE_MEMBERS above this
MAX_IDENTIFIERS = 10  # TOO_MANY_USER_IDENTIFIERS above this, per member
ENCODINGS = ("HEX", "BASE64")
CONSENT = {"GRANTED": "CONSENT_GRANTED", "DENIED": "CONSENT_DENIED"}
ROW_PATH = re.compile(r"^audience_?[mM]embers\[(\d+)\]")
REQUEST_REASONS = frozenset(
    "PERMISSION_DENIED NOT_FOUND INVALID_USER_LIST_ID INVALID_USER_LIST_TYPE INVALID_DESTINATION "
    "TERMS_AND_CONDITIONS_NOT_SIGNED DATA_PARTNER_USER_LIST_MUTATE_NOT_ALLOWED RESOURCE_EXHAUSTED "
    "TOO_MANY_AUDIENCE_MEMBERS TOO_MANY_DESTINATIONS MULTIPLE_DATA_TYPES_NOT_ALLOWED".split()
)


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        err = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return err if isinstance(err, dict) else {}


class GoogleDataManagerDestination(Destination):
    type = "google_data_manager"
    max_batch_size = MAX_MEMBERS
    deletes_apart = True  # ingest and remove are two methods
    erasure = "remove from audience"
    records_sent_identifiers = True
    hashed_fields = frozenset(("email", "phone", "first_name", "last_name"))

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        for src, f in self.cfg.fields.items():
            if f not in FIELDS:
                raise OutflowError(f"{where}: fields.{src}: {f!r} is not one of {', '.join(FIELDS)}")
        self.require_key_mapped_to("email")
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(f"{where}: mode: Customer Match lists take upsert (add) or mirror (add and remove)")
        self.account_type = str(self.option("account_type", "GOOGLE_ADS"))
        self.account_id = str(self.option("account_id", required=True)).replace("-", "")
        self.user_list_id = str(self.option("user_list_id", required=True))
        login = self.option("login_account_id")
        self.login_account_id = str(login).replace("-", "") if login else None
        self.default_region = self.option("default_region")
        self.encoding = str(self.option("encoding", "HEX")).upper()
        if self.encoding not in ENCODINGS:
            raise OutflowError(f"{where}: destination.options.encoding: expected HEX or BASE64")
        self.consent: dict[str, str] = {}
        for key, field in (("ad_user_data_consent", "adUserData"), ("ad_personalization_consent", "adPersonalization")):
            value = str(self.option(key, "GRANTED")).upper()
            if value not in CONSENT:
                raise OutflowError(f"{where}: destination.options.{key}: expected GRANTED or DENIED")
            self.consent[field] = CONSENT[value]
        self.polling = JobPolling.from_options(self, timeout=30.0)
        self.last_list_size: dict[str, int] | None = None

    # --- request shapes --------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._secret}", "content-type": "application/json"}

    def _url(self, path: str) -> str:
        return f"{self.cfg.destination.base_url}/v1/{path}"

    def _destination(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "operatingAccount": {"accountType": self.account_type, "accountId": self.account_id},
            "productDestinationId": self.user_list_id,
        }
        if self.login_account_id:
            d["loginAccount"] = {"accountType": self.account_type, "accountId": self.login_account_id}
        return d

    def _encode(self, hex_digest: str) -> str:
        return hex_digest if self.encoding == "HEX" else base64.b64encode(bytes.fromhex(hex_digest)).decode()

    def sent_identifiers(self, record: Record) -> list[Any]:
        """The user identifiers as sent (hex digests; re-encoded on removal if the encoding changed)."""
        return self.identifiers(record)

    def identifiers(self, r: Record) -> list[dict[str, Any]]:
        """Hex-digest user identifiers of one row (at most 10)."""
        if r.op == "delete":
            if r.sent:
                return list(r.sent)[-MAX_IDENTIFIERS:]
            h = google_hashed_email(r.key)
            return [{"emailAddress": h}] if h else []
        u = google_user_data(r.fields, self.default_region)
        out: list[dict[str, Any]] = []
        if u["email"]:
            out.append({"emailAddress": u["email"]})
        if u["phone"]:
            out.append({"phoneNumber": u["phone"]})
        if a := u["address"]:
            out.append({"address": {"givenName": a["first_name"], "familyName": a["last_name"],
                                    "regionCode": a["country_code"], "postalCode": a["postal_code"]}})  # fmt: skip
        return out[:MAX_IDENTIFIERS]

    def _member(self, idents: list[dict[str, Any]]) -> dict[str, Any]:
        enc = []
        for i in idents:
            if "address" in i:
                a = i["address"]
                enc.append({"address": {**a, "givenName": self._encode(a["givenName"]),
                                        "familyName": self._encode(a["familyName"])}})  # fmt: skip
            else:
                ((k, v),) = i.items()
                enc.append({k: self._encode(v)})
        return {"compositeData": {"userData": {"userIdentifiers": enc}}}  # Google's recommended form

    def _request(self, op: str, idents: list[list[dict[str, Any]]]) -> PreparedRequest:
        body: dict[str, Any] = {
            "destinations": [self._destination()],
            "audienceMembers": [self._member(i) for i in idents],
            "encoding": self.encoding,
        }
        if op != "delete":
            body["consent"] = self.consent
            body["termsOfService"] = {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
        method = "remove" if op == "delete" else "ingest"
        return PreparedRequest("POST", self._url(f"audienceMembers:{method}"), self._headers(), orjson.dumps(body))

    def build_request(self, records: list[Record]) -> PreparedRequest:
        return self._request(records[0].op if records else "upsert", [self.identifiers(r) for r in records])

    # --- delivery -------------------------------------------------------------------------------------------
    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        idents = [self.identifiers(r) for r in records]
        usable = [r for r, i in zip(records, idents, strict=True) if i]
        msg = "no user identifier left after Google normalization"
        empty = [RowResult(r.key, False, msg) for r, i in zip(records, idents, strict=True) if not i]
        if not usable:
            return empty
        resp = await call(self._request(usable[0].op, [i for i in idents if i]))
        if 400 <= resp.status_code < 500:
            answer = await self.resend_without_bad_rows(call, usable, resp)
            return answer + empty if isinstance(answer, list) else answer
        if resp.status_code != 200:
            return resp
        request_id = str(require_dict(answer_of(resp), "requestId")["requestId"])
        results = await self._diagnostics(call, request_id, usable)
        await self._read_list_size(call)
        return results + empty

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        """A 2xx ingest/remove answer names no row: it confirms the request (``requestId``) or nothing."""
        require_dict(answer_of(response), "requestId")
        return [RowResult(r.key, True) for r in records]

    async def _diagnostics(self, call: Call, request_id: str, records: list[Record]) -> list[RowResult]:
        get = PreparedRequest("GET", self._url(f"requestStatus:retrieve?requestId={quote(request_id)}"),
                              self._headers())  # fmt: skip

        def status(r: httpx.Response) -> str:
            per = json_object(r).get("requestStatusPerDestination") or [{}]
            return str(per[0].get("requestStatus", "REQUEST_STATUS_UNKNOWN"))

        polled = await poll(
            lambda: call(get), lambda r: r.status_code != 200 or status(r) not in ("PROCESSING",),
            self.polling, what=f"Data Manager request {request_id}",
        )  # fmt: skip
        if polled.last.status_code != 200:
            note = f"request {request_id}: diagnostics not readable ({self.error_message(polled.last)})"
            log.warning("sync %s: %s", self.cfg.name, note)
            return [RowResult(r.key, True, note) for r in records]
        per = (json_object(polled.last).get("requestStatusPerDestination") or [{}])[0]
        state = str(per.get("requestStatus", "REQUEST_STATUS_UNKNOWN"))
        counts = ", ".join(
            f"{c.get('reason', 'ERROR')} x{c.get('recordCount', '?')}"
            for c in (per.get("errorInfo") or {}).get("errorCounts", [])
        )
        if state == "SUCCESS":
            return [RowResult(r.key, True) for r in records]
        if state == "FAILED":
            return [RowResult(r.key, False, f"request {request_id} failed: {counts or 'no reason given'}")
                    for r in records]  # fmt: skip
        if state == "PARTIAL_SUCCESS":
            note = f"request {request_id}: partial success, Google does not name the failed records ({counts})"
        elif state == "PROCESSING":
            note = f"request {request_id}: still processing after {self.polling.timeout:g}s; Google has the rows"
        else:
            raise Unconfirmed(f"request {request_id}: status {state}")
        log.warning("sync %s: %d rows: %s", self.cfg.name, len(records), note)
        return [RowResult(r.key, True, note) for r in records]

    async def _read_list_size(self, call: Call) -> None:
        path = f"accountTypes/{self.account_type}/accounts/{self.account_id}/userLists/{self.user_list_id}"
        resp = await call(PreparedRequest("GET", self._url(path), self._headers()))
        if resp.status_code != 200:
            log.warning("sync %s: user list size not readable (%s)", self.cfg.name, self.error_message(resp))
            return
        size = json_object(resp).get("sizeInfo") or {}
        self.last_list_size = {k: int(v) for k, v in size.items() if str(v).isdigit()}
        log.info("sync %s: user list %s size %s", self.cfg.name, self.user_list_id, self.last_list_size)

    # --- errors ---------------------------------------------------------------------------------------------
    def _reasons(self, response: httpx.Response) -> set[str]:
        err = _error(response)
        out = {str(err.get("status", ""))}
        for d in err.get("details", []) or []:
            if isinstance(d, dict) and d.get("reason"):
                out.add(str(d["reason"]))
        return out

    def row_errors(self, response: httpx.Response, n: int) -> dict[int, str]:
        """Fail-fast refusals name the bad records in ``BadRequest.fieldViolations[].field``."""
        if response.status_code != 400:
            return {}
        out: dict[int, str] = {}
        for d in _error(response).get("details", []) or []:
            for v in (d.get("fieldViolations") or []) if isinstance(d, dict) else []:
                m = ROW_PATH.match(str(v.get("field", "")))
                if m and int(m.group(1)) < n:
                    out.setdefault(
                        int(m.group(1)), f"{v.get('reason', 'INVALID_ARGUMENT')}: {v.get('description', '')}"
                    )
        return out

    def refusal_scope(self, response: httpx.Response) -> Literal["rows", "request"]:
        """``request``: a refusal about the account, the list, the terms or a quota, not about any row."""
        if response.status_code in (401, 403, 404, 429) or self._reasons(response) & REQUEST_REASONS:
            return "request"
        return "rows"

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """Google signals a quota with 429 ``RESOURCE_EXHAUSTED`` and, when it has one, ``google.rpc.RetryInfo``
        ``retryDelay`` (``"30s"``) in the error details."""
        if response.status_code != 429:
            return None
        for d in _error(response).get("details", []) or []:
            delay = str(d.get("retryDelay", "")) if isinstance(d, dict) else ""
            if re.fullmatch(r"\d+(\.\d+)?s", delay):
                return float(delay[:-1])
        return None

    def error_message(self, response: httpx.Response) -> str:
        err = _error(response)
        if err:
            return f"HTTP {response.status_code}: {err.get('status', '')} {err.get('message', '')}".strip()
        return super().error_message(response)
