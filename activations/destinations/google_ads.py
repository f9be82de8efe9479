"""Google Ads Customer Match through offline user data jobs (REST).

One job per batch, so an acknowledged batch is a processed batch (a crash never leaves rows acked in a job
that was never run):
1. ``POST {base_url}/{api_version}/customers/{customer_id}/offlineUserDataJobs:create`` with
   ``{"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {"userList":
   "customers/{customer_id}/userLists/{user_list_id}"}}}`` -> ``{"resourceName"}``;
2. ``POST {base_url}/{api_version}/{job}:addOperations`` with ``{"enablePartialFailure": true,
   "operations": [{"create" | "remove": {"userIdentifiers": [...]}}]}``; failed operations come back in
   ``partialFailureError.details[].errors[].location.fieldPathElements`` (``operations`` index) and are
   rejected;
3. ``POST {base_url}/{api_version}/{job}:run`` -> a long-running operation.

User identifiers (``activations.hashing``, Google's rules): ``hashedEmail`` (trimmed, lower case, gmail dots
removed), ``hashedPhoneNumber`` (E.164), ``addressInfo`` {``hashedFirstName``, ``hashedLastName``,
``countryCode``, ``postalCode``} (country and postal code NOT hashed). Destination fields: ``email``,
``phone``, ``first_name``, ``last_name``, ``country_code``, ``postal_code``. The primary key column must map
to ``email``.

Auth: ``Authorization: Bearer <OAuth access token>`` (from ``secret_env``) and ``developer-token`` from the
env var named by option ``developer_token_env``; options ``customer_id``, ``user_list_id`` (required),
``login_customer_id``, ``api_version`` (default v18), ``default_region`` for phones without a country code.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import orjson

from activations.destinations.base import Call, Destination, PreparedRequest, Record, RowResult
from activations.hashing import google_hashed_email, google_hashed_name, google_hashed_phone
from outflow.errors import OutflowError

FIELDS = ("email", "phone", "first_name", "last_name", "country_code", "postal_code")


class GoogleAdsCustomerMatchDestination(Destination):
    type = "google_ads_customer_match"
    max_batch_size = 10_000

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        for src, f in self.cfg.fields.items():
            if f not in FIELDS:
                raise OutflowError(f"{where}: fields.{src}: {f!r} is not one of {', '.join(FIELDS)}")
        self.require_key_mapped_to("email")
        self.customer_id = str(self.option("customer_id", required=True)).replace("-", "")
        self.user_list_id = str(self.option("user_list_id", required=True))
        self.api_version = str(self.option("api_version", "v18"))
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

    def _headers(self) -> dict[str, str]:
        h = {
            "authorization": f"Bearer {self._secret}",
            "developer-token": self._dev_token or "",
            "content-type": "application/json",
        }
        if self.login_customer_id:
            h["login-customer-id"] = str(self.login_customer_id).replace("-", "")
        return h

    def group(self, records: list[Record]) -> list[list[Record]]:
        ups = [r for r in records if r.op != "delete"]
        dels = [r for r in records if r.op == "delete"]
        return [g for g in (ups, dels) if g]

    def identifiers(self, r: Record) -> list[dict[str, Any]]:
        if r.op == "delete":
            h = google_hashed_email(r.key)
            return [{"hashedEmail": h}] if h else []
        f = r.fields
        out: list[dict[str, Any]] = []
        if h := google_hashed_email(f.get("email")):
            out.append({"hashedEmail": h})
        if h := google_hashed_phone(f.get("phone"), self.default_region or f.get("country_code")):
            out.append({"hashedPhoneNumber": h})
        fn, ln = google_hashed_name(f.get("first_name")), google_hashed_name(f.get("last_name"))
        cc, pc = str(f.get("country_code") or "").strip().upper(), str(f.get("postal_code") or "").strip()
        if fn and ln and cc and pc:  # Google needs all four for address matching
            out.append({"addressInfo": {"hashedFirstName": fn, "hashedLastName": ln, "countryCode": cc,
                                        "postalCode": pc}})  # fmt: skip
        return out

    def _url(self, path: str) -> str:
        return f"{self.cfg.destination.base_url}/{self.api_version}/{path}"

    def build_request(self, records: list[Record]) -> PreparedRequest:
        verb = "remove" if records[0].op == "delete" else "create"
        ops = [{verb: {"userIdentifiers": self.identifiers(r)}} for r in records]
        body = {"enablePartialFailure": True, "operations": ops}
        # job resource filled in by exchange
        return PreparedRequest("POST", "{job}:addOperations", self._headers(), orjson.dumps(body))

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        usable = [r for r in records if self.identifiers(r)]
        empty = [RowResult(r.key, False, "no user identifier left after Google normalization")
                 for r in records if r not in usable]  # fmt: skip
        if not usable:
            return empty
        job_body = {
            "job": {
                "type": "CUSTOMER_MATCH_USER_LIST",
                "customerMatchUserListMetadata": {
                    "userList": f"customers/{self.customer_id}/userLists/{self.user_list_id}"
                },
            }
        }
        create = PreparedRequest(
            "POST", self._url(f"customers/{self.customer_id}/offlineUserDataJobs:create"), self._headers(),
            orjson.dumps(job_body),
        )  # fmt: skip
        resp = await call(create)
        if resp.status_code != 200:
            return resp
        job = resp.json()["resourceName"]
        add = self.build_request(usable)
        add = PreparedRequest(add.method, self._url(f"{job}:addOperations"), add.headers, add.content)
        resp = await call(add)
        if resp.status_code != 200:
            return resp
        results = self.parse_response(resp, usable)
        if any(r.ok for r in results):
            run = await call(PreparedRequest("POST", self._url(f"{job}:run"), self._headers(), b"{}"))
            if run.status_code != 200:
                return run
        return results + empty

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        failed: dict[int, str] = {}
        err = (response.json() or {}).get("partialFailureError") or {}
        for detail in err.get("details", []):
            for e in detail.get("errors", []):
                path = (e.get("location") or {}).get("fieldPathElements", [])
                idx = next((p.get("index") for p in path if p.get("fieldName") == "operations"), None)
                if idx is not None:
                    code = next(iter((e.get("errorCode") or {}).values()), "ERROR")
                    failed.setdefault(int(idx), f"{code}: {e.get('message', '')}")
        return [RowResult(r.key, i not in failed, failed.get(i)) for i, r in enumerate(records)]

    def error_message(self, response: httpx.Response) -> str:
        try:
            err = response.json().get("error")
        except (ValueError, AttributeError):
            err = None
        if isinstance(err, dict):
            return f"HTTP {response.status_code}: {err.get('status', '')} {err.get('message', '')}".strip()
        return super().error_message(response)
