"""SendGrid Marketing Campaigns contacts and list membership.

- Upsert: ``PUT /v3/marketing/contacts`` ``{"list_ids": [list_id], "contacts": [...]}`` — up to 30,000
  contacts (or 6 MB) per call; an asynchronous job answered ``202 {"job_id"}``. A ``400 {"errors": [{"field":
  "contacts[i].email", "message"}]}`` refuses the whole call: those rows are rejected and the rest resent.
- Removal (mirror): ``POST /v3/marketing/contacts/search/emails`` (≤ 100 emails) gives the contact ids, then
  ``DELETE /v3/marketing/lists/{list_id}/contacts?contact_ids=a,b`` (``202 {"job_id"}``). Contacts stay in
  SendGrid; only their list membership goes.
- Auth: ``Authorization: Bearer <API key>``.

The sync's primary key column must be mapped to ``email`` (removals carry only the key). Destination fields
are ContactRequest properties (``email``, ``first_name``, ``last_name``, ``city``, ``postal_code``, ...) or
``custom_fields.<field id>``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from activations.destinations.base import Call, Destination, PreparedRequest, Record, RowResult
from outflow.errors import OutflowError

_FIELD_INDEX = re.compile(r"contacts\[(\d+)\]")
SEARCH_MAX = 100


class SendGridDestination(Destination):
    type = "sendgrid"
    max_batch_size = 30_000
    max_batch_bytes = 6 * 1024 * 1024

    def check_config(self) -> None:
        self.require_key_mapped_to("email")
        self.list_id = str(self.option("list_id", required=True))
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: mode: SendGrid contacts take upsert or mirror "
                "(PUT /v3/marketing/contacts always upserts)"
            )

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._secret}", "content-type": "application/json"}

    def _contact(self, r: Record) -> dict[str, Any]:
        c: dict[str, Any] = {}
        for k, v in r.fields.items():
            if v is None:
                continue
            if k.startswith("custom_fields."):
                c.setdefault("custom_fields", {})[k.split(".", 1)[1]] = str(v)
            else:
                c[k] = str(v).strip().lower() if k == "email" else str(v)
        return c

    def group(self, records: list[Record]) -> list[list[Record]]:
        ups = [r for r in records if r.op != "delete"]
        dels = [r for r in records if r.op == "delete"]
        return [g for g in [ups, *(dels[i : i + SEARCH_MAX] for i in range(0, len(dels), SEARCH_MAX))] if g]

    def build_request(self, records: list[Record]) -> PreparedRequest:
        body = {"list_ids": [self.list_id], "contacts": [self._contact(r) for r in records]}
        url = f"{self.cfg.destination.base_url}/v3/marketing/contacts"
        return PreparedRequest("PUT", url, self._headers(), orjson.dumps(body))

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        if records[0].op == "delete":
            return await self._remove(call, records)
        return await super().exchange(call, records)

    def row_errors(self, response: httpx.Response, n: int) -> dict[int, str]:
        if response.status_code != 400:
            return {}
        try:
            errors = response.json().get("errors", [])
        except (ValueError, AttributeError):
            return {}
        bad: dict[int, str] = {}
        for e in errors:
            m = _FIELD_INDEX.search(str(e.get("field", "")))
            if not m or int(m.group(1)) >= n:
                return {}  # an error about the whole call
            bad.setdefault(int(m.group(1)), f"{e.get('field')}: {e.get('message')}")
        return bad

    async def _remove(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        base = self.cfg.destination.base_url
        emails = [r.key.strip().lower() for r in records]
        search = PreparedRequest(
            "POST", f"{base}/v3/marketing/contacts/search/emails", self._headers(),
            orjson.dumps({"emails": emails}),
        )  # fmt: skip
        resp = await call(search)
        if resp.status_code == 404:  # none of them is a contact any more: nothing to remove
            return [RowResult(r.key, True) for r in records]
        if resp.status_code != 200:
            return resp
        found = resp.json().get("result", {})
        ids = [found[e]["contact"]["id"] for e in emails if "contact" in found.get(e, {})]
        if ids:
            delete = PreparedRequest(
                "DELETE",
                f"{base}/v3/marketing/lists/{self.list_id}/contacts?contact_ids={','.join(ids)}",
                {"authorization": f"Bearer {self._secret}"},
            )
            resp = await call(delete)
            if resp.status_code not in (200, 202, 204):
                return resp
        return [RowResult(r.key, True) for r in records]

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        # 202 {"job_id"}: SendGrid queued the whole call (validation already passed).
        return [RowResult(r.key, True) for r in records]

    def error_message(self, response: httpx.Response) -> str:
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            errors = None
        if errors:
            return f"HTTP {response.status_code}: " + "; ".join(
                f"{e.get('field') + ': ' if e.get('field') else ''}{e.get('message')}" for e in errors[:3]
            )
        return super().error_message(response)
