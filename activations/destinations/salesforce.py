"""Salesforce sObject Collections upsert by external id.

- ``PATCH {base_url}/services/data/{api_version}/composite/sobjects/{SObject}/{ExternalIdField}`` with
  ``{"allOrNone": false, "records": [{"attributes": {"type": SObject}, <ExternalIdField>: key, ...}]}``, at
  most 200 records; the answer is one result per record, in order: ``{"id", "success", "created", "errors":
  [{"statusCode", "message", "fields"}]}``.
- ``REQUEST_LIMIT_EXCEEDED`` (HTTP 403, the org's API request limit) is retried with backoff, never taken for
  an auth failure; ``INVALID_SESSION_ID`` (401) stops the sync.
- Auth: ``Authorization: Bearer <access token>``. ``destination.object`` is the SObject (e.g. ``Contact``);
  options: ``external_id_field`` (required), ``api_version`` (default v62.0).

Upsert mode only: the sync's primary key column must be mapped to the external id field.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from activations.destinations.base import Destination, PreparedRequest, Record, RowResult
from outflow.errors import OutflowError


class SalesforceDestination(Destination):
    type = "salesforce"
    max_batch_size = 200

    def check_config(self) -> None:
        self.ext_field = str(self.option("external_id_field", required=True))
        self.require_key_mapped_to(self.ext_field)
        self.api_version = str(self.option("api_version", "v62.0"))
        if self.cfg.mode.value != "upsert":
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: mode: the Salesforce destination upserts by external id "
                "(mode: upsert)"
            )

    def build_request(self, records: list[Record]) -> PreparedRequest:
        sobject = self.cfg.destination.object
        recs = []
        for r in records:
            rec: dict[str, Any] = {"attributes": {"type": sobject}, **r.fields}
            rec[self.ext_field] = r.key
            recs.append(rec)
        url = (
            f"{self.cfg.destination.base_url}/services/data/{self.api_version}/composite/sobjects/"
            f"{sobject}/{self.ext_field}"
        )
        headers = {"authorization": f"Bearer {self._secret}", "content-type": "application/json"}
        return PreparedRequest("PATCH", url, headers, orjson.dumps({"allOrNone": False, "records": recs}, default=str))

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        results = response.json()
        if not isinstance(results, list) or len(results) != len(records):
            return [
                RowResult(r.key, False, "unexpected Salesforce answer (results do not match records)") for r in records
            ]
        out = []
        for r, res in zip(records, results, strict=True):
            if res.get("success"):
                out.append(RowResult(r.key, True))
            else:
                errs = res.get("errors") or [{}]
                e = errs[0]
                fields = f" [{', '.join(e.get('fields') or [])}]" if e.get("fields") else ""
                out.append(RowResult(r.key, False, f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}{fields}"))
        return out

    def _codes(self, response: httpx.Response) -> set[str]:
        try:
            body = response.json()
        except ValueError:
            return set()
        items = body if isinstance(body, list) else [body]
        return {str(i.get("errorCode")) for i in items if isinstance(i, dict) and i.get("errorCode")}

    def is_transient(self, response: httpx.Response) -> bool:
        return "REQUEST_LIMIT_EXCEEDED" in self._codes(response)

    def is_auth_failure(self, response: httpx.Response) -> bool:
        return response.status_code in (401, 403) and "REQUEST_LIMIT_EXCEEDED" not in self._codes(response)

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if isinstance(body, list) and body and isinstance(body[0], dict) and "errorCode" in body[0]:
            return f"HTTP {response.status_code}: {body[0]['errorCode']}: {body[0].get('message', '')}"
        return super().error_message(response)
