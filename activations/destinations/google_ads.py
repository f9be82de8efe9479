"""Google Ads Customer Match through offline user data jobs (REST), following Google's documented flow.

Per batch, one job per direction (Google refuses create and remove operations mixed in one job with
``CONFLICTING_OPERATION``):
1. ``POST {base_url}/{api_version}/customers/{customer_id}/offlineUserDataJobs:create`` with
   ``{"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {"userList":
   "customers/{customer_id}/userLists/{user_list_id}", "consent": {...}}}}`` -> ``{"resourceName"}``;
2. ``POST {base_url}/{api_version}/{job}:addOperations`` with ``{"enablePartialFailure": true, "operations":
   [{"create" | "remove": {"userIdentifiers": [...]}}]}``, in requests of at most
   ``options.operations_per_request`` operations (default 10,000, Google's recommendation) and 100,000 user
   identifiers (Google's cap); failed operations come back in ``partialFailureError.details[].errors[]`` with
   ``location.fieldPathElements`` (``operations`` index, offset by the request's start) and are rejected;
3. ``POST {base_url}/{api_version}/{job}:run`` -> a long-running operation ``{"name"}``;
4. ``GET {base_url}/{api_version}/{operation name}`` polled (bounded, with backoff; options
   ``job_poll_timeout_seconds`` (default 30), ``job_poll_interval_seconds``, ``job_poll_max_interval_seconds``)
   until ``done``: with ``error`` every row of the job is rejected with Google's status and message; without,
   the rows are delivered.

**One job per batch, not per run.** The engine commits state after each acknowledged batch, so a batch may be
acknowledged only once its rows are in a job that WILL run. A run-wide job would acknowledge batches whose
job is run only at the end of the run: a crash, an auth failure or an exhausted retry before ``:run`` would
leave them acknowledged in a job that never runs. Batches are large instead (up to 100,000 rows per job, the
default batch size, sent in several ``addOperations`` calls), which is what Google recommends ("one large job
is much more efficient than several smaller ones"). Keep ``concurrency: 1`` so jobs for one list do not run
at the same time.

**Jobs still processing at the timeout.** Google documents that a job can take hours (up to 24). Once ``:run``
is accepted the rows are safely in a job Google will process, so they are acknowledged; the row outcome
carries the job's and operation's resource names (``RowResult.message``) and a warning is logged naming them,
rather than holding the sync for hours. A job that later fails is not seen by that run.

User identifiers (``activations.hashing``, Google's rules): ``hashedEmail`` (trimmed, lower case, gmail dots
removed), ``hashedPhoneNumber`` (E.164), ``addressInfo`` {``hashedFirstName``, ``hashedLastName``,
``countryCode``, ``postalCode``} (country and postal code NOT hashed). Destination fields: ``email``,
``phone``, ``first_name``, ``last_name``, ``country_code``, ``postal_code``. The primary key column must map
to ``email``.

Auth: ``Authorization: Bearer <OAuth access token>`` (from ``secret_env``) and ``developer-token`` from the
env var named by option ``developer_token_env``; options ``customer_id``, ``user_list_id`` (required),
``login_customer_id``, ``api_version`` (default in ``activations.destinations.versions``; a legacy path since
Google points Customer Match uploads to its Data Manager API; a retired version is refused before any
request), ``default_region`` for phones without a country code,
``ad_user_data_consent`` / ``ad_personalization_consent`` (default ``GRANTED``: the activation models send
only people with ads consent; ``UNSPECIFIED`` leaves the consent out).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
import orjson

from activations.destinations.base import (
    Call,
    Destination,
    PreparedRequest,
    Record,
    RefusalScope,
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
MAX_IDENTIFIERS_PER_REQUEST = 100_000  # Google: TOO_MANY_USER_IDENTIFIERS above this per addOperations
CONSENT = ("GRANTED", "DENIED", "UNSPECIFIED")


class GoogleAdsCustomerMatchDestination(Destination):
    type = "google_ads_customer_match"
    max_batch_size = 100_000  # rows per job; sent in addOperations requests of operations_per_request
    deletes_apart = True  # creates and removes never share a job (CONFLICTING_OPERATION)
    erasure = "remove from audience"
    records_sent_identifiers = True

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        for src, f in self.cfg.fields.items():
            if f not in FIELDS:
                raise OutflowError(f"{where}: fields.{src}: {f!r} is not one of {', '.join(FIELDS)}")
        self.require_key_mapped_to("email")
        if self.option("legacy_google_ads_api") is not True:
            raise OutflowError(
                f"{where}: destination.options.legacy_google_ads_api: Google refuses Customer Match uploads through "
                "the Google Ads API from developer tokens not already using it (since 2026-04-01); use the "
                "google_data_manager destination, or set this to true if your token already uploads Customer Match"
            )
        self.customer_id = str(self.option("customer_id", required=True)).replace("-", "")
        self.user_list_id = str(self.option("user_list_id", required=True))
        self.login_customer_id = self.option("login_customer_id")
        self.default_region = self.option("default_region")
        env = str(self.option("developer_token_env", required=True))
        self._dev_token = os.environ.get(env)
        if not self._dev_token:
            raise OutflowError(
                f"{where}: destination.options.developer_token_env: environment variable {env} is not set"
            )
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(f"{where}: mode: Customer Match lists take upsert (add) or mirror (add and remove)")
        self.ops_per_request = self.option("operations_per_request", 10_000)
        if (
            isinstance(self.ops_per_request, bool)
            or not isinstance(self.ops_per_request, int)
            or not (1 <= self.ops_per_request <= MAX_IDENTIFIERS_PER_REQUEST)
        ):
            raise OutflowError(
                f"{where}: destination.options.operations_per_request: expected an integer 1..100000, "
                f"got {self.ops_per_request!r}"
            )
        self.consent: dict[str, str] = {}
        for key, field in (("ad_user_data_consent", "adUserData"), ("ad_personalization_consent", "adPersonalization")):
            value = str(self.option(key, "GRANTED")).upper()
            if value not in CONSENT:
                raise OutflowError(f"{where}: destination.options.{key}: expected one of {', '.join(CONSENT)}")
            if value != "UNSPECIFIED":
                self.consent[field] = value
        self.polling = JobPolling.from_options(self, timeout=30.0)

    def check_request(self) -> PreparedRequest:
        """``GET /{version}/customers:listAccessibleCustomers``: the customers the credentials reach."""
        return PreparedRequest("GET", self._url("customers:listAccessibleCustomers"), self._headers())

    def _headers(self) -> dict[str, str]:
        h = {
            "authorization": f"Bearer {self._secret}",
            "developer-token": self._dev_token or "",
            "content-type": "application/json",
        }
        if self.login_customer_id:
            h["login-customer-id"] = str(self.login_customer_id).replace("-", "")
        return h

    def sent_identifiers(self, record: Record) -> list[Any]:
        """The user identifiers as sent (hashed), one set per identifier."""
        return self.identifiers(record)

    def identifiers(self, r: Record) -> list[dict[str, Any]]:
        if r.op == "delete":
            if r.sent:  # every identifier that was sent for this person, not only the key (Google: at most 20)
                return list(r.sent)[-20:]
            h = google_hashed_email(r.key)
            return [{"hashedEmail": h}] if h else []
        u = google_user_data(r.fields, self.default_region)
        out: list[dict[str, Any]] = []
        if u["email"]:
            out.append({"hashedEmail": u["email"]})
        if u["phone"]:
            out.append({"hashedPhoneNumber": u["phone"]})
        if a := u["address"]:  # Google needs all four for address matching
            out.append({"addressInfo": {"hashedFirstName": a["first_name"], "hashedLastName": a["last_name"],
                                        "countryCode": a["country_code"], "postalCode": a["postal_code"]}})  # fmt: skip
        return out

    def _url(self, path: str) -> str:
        return f"{self.cfg.destination.base_url}/{self.api_version}/{path}"

    def build_request(self, records: list[Record]) -> PreparedRequest:
        return self._add_operations("{job}", records, [self.identifiers(r) for r in records])

    def _add_operations(self, job: str, records: list[Record], idents: list[list[dict[str, Any]]]) -> PreparedRequest:
        verb = "remove" if records[0].op == "delete" else "create"
        body = {"enablePartialFailure": True, "operations": [{verb: {"userIdentifiers": i}} for i in idents]}
        return PreparedRequest("POST", self._url(f"{job}:addOperations"), self._headers(), orjson.dumps(body))

    def _chunks(self, n_ids: list[int]) -> list[tuple[int, int]]:
        """(start, end) of each addOperations request: at most ops_per_request operations and 100,000
        identifiers."""
        out: list[tuple[int, int]] = []
        start, ids = 0, 0
        for i, n in enumerate(n_ids):
            if i > start and (i - start >= self.ops_per_request or ids + n > MAX_IDENTIFIERS_PER_REQUEST):
                out.append((start, i))
                start, ids = i, 0
            ids += n
        return [*out, (start, len(n_ids))] if n_ids else out

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        all_idents = [self.identifiers(r) for r in records]
        usable = [r for r, i in zip(records, all_idents, strict=True) if i]
        idents = [i for i in all_idents if i]
        msg = "no user identifier left after Google normalization"
        empty = [RowResult(r.key, False, msg) for r, i in zip(records, all_idents, strict=True) if not i]
        if not usable:
            return empty
        metadata: dict[str, Any] = {"userList": f"customers/{self.customer_id}/userLists/{self.user_list_id}"}
        if self.consent and usable[0].op != "delete":  # Google needs no consent to remove people
            metadata["consent"] = self.consent
        job_body = {"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": metadata}}
        create = PreparedRequest(
            "POST", self._url(f"customers/{self.customer_id}/offlineUserDataJobs:create"), self._headers(),
            orjson.dumps(job_body),
        )  # fmt: skip
        resp = await call(create)
        if resp.status_code != 200:
            return resp
        job = str(require_dict(answer_of(resp), "resourceName")["resourceName"])
        results: list[RowResult] = []
        for lo, hi in self._chunks([len(i) for i in idents]):
            resp = await call(self._add_operations(job, usable[lo:hi], idents[lo:hi]))
            if resp.status_code != 200:
                return resp  # nothing acknowledged: the job is never run, the deliverer splits or retries
            results += self.parse_response(resp, usable[lo:hi])
        if any(r.ok for r in results):
            run = await call(PreparedRequest("POST", self._url(f"{job}:run"), self._headers(), b"{}"))
            if run.status_code != 200:
                return run
            results = await self._await_operation(call, job, json_object(run), results)
        return results + empty

    async def _await_operation(
        self, call: Call, job: str, operation: dict[str, Any], results: list[RowResult]
    ) -> list[RowResult]:
        """Poll the long-running operation of ``:run`` until ``done`` (bounded)."""
        name = operation.get("name")
        if not operation.get("done") and name:
            get = PreparedRequest("GET", self._url(str(name)), self._headers())
            polled = await poll(
                lambda: call(get), lambda r: r.status_code != 200 or bool(json_object(r).get("done")),
                self.polling, what=f"Google Ads {job} ({name})",
            )  # fmt: skip
            if polled.last.status_code != 200:
                note = f"in {job}, run as {name}; operation status not readable ({self.error_message(polled.last)})"
                log.warning("sync %s: %s", self.cfg.name, note)
                return [RowResult(r.key, True, note) if r.ok else r for r in results]
            operation = json_object(polled.last)
        if not operation.get("done"):
            note = (
                f"in {job}, still processing after {self.polling.timeout:g}s (operation {name}); Google may take "
                "hours: check the job's status in Google Ads"
            )
            log.warning("sync %s: %d rows %s", self.cfg.name, sum(r.ok for r in results), note)
            return [RowResult(r.key, True, note) if r.ok else r for r in results]
        err = operation.get("error")
        if err:
            msg = f"{job} failed: {err.get('code', '')} {err.get('message', '')}".strip()
            return [RowResult(r.key, False, msg) if r.ok else r for r in results]
        return results

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        failed: dict[int, str] = {}
        body = answer_of(response)
        if not isinstance(body, dict) or set(body) - {"partialFailureError", "warning"}:
            raise Unconfirmed(f"unexpected answer {str(body)[:120]}")
        err = body.get("partialFailureError") or {}
        for detail in err.get("details", []):
            for e in detail.get("errors", []):
                path = (e.get("location") or {}).get("fieldPathElements", [])
                idx = next((p.get("index") for p in path if p.get("fieldName") == "operations"), None)
                if idx is not None:
                    code = next(iter((e.get("errorCode") or {}).values()), "ERROR")
                    failed.setdefault(int(idx), f"{code}: {e.get('message', '')}")
        return [RowResult(r.key, i not in failed, failed.get(i)) for i, r in enumerate(records)]

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """``QuotaErrorDetails.retryDelay`` (a Duration such as ``"5s"``) of a ``RESOURCE_EXHAUSTED`` answer."""
        try:
            details = response.json()["error"]["details"]
            delays = [e["details"]["quotaErrorDetails"]["retryDelay"] for d in details for e in d.get("errors", [])
                      if "quotaErrorDetails" in (e.get("details") or {})]  # fmt: skip
            return max(float(str(v).removesuffix("s")) for v in delays) if delays else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return super().throttle_delay(response)

    def refusal_scope(self, response: httpx.Response) -> RefusalScope:
        """A 404 (no such customer, user list or version) is about the request."""
        return "request" if response.status_code == 404 else super().refusal_scope(response)

    def error_message(self, response: httpx.Response) -> str:
        try:
            err = response.json().get("error")
        except (ValueError, AttributeError):
            err = None
        if isinstance(err, dict):
            return f"HTTP {response.status_code}: {err.get('status', '')} {err.get('message', '')}".strip()
        return super().error_message(response)
