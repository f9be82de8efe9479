"""Klaviyo profiles and list membership (JSON:API, ``revision`` header on every call).

- Upsert / add to list: ``POST /api/profile-bulk-import-jobs`` — a ``profile-bulk-import-job`` with up to
  10,000 profiles (5 MB) and a ``relationships.lists`` entry for the audience list; answered ``202`` with the
  job. A ``400`` whose ``errors[].source.pointer`` names ``/data/attributes/profiles/data/<i>/...`` rejects
  those rows and the rest are sent again.
- Removal (mirror): ``GET /api/profiles?filter=any(email,[...])`` (≤ 100 per page) for the profile ids, then
  ``DELETE /api/lists/{list_id}/relationships/profiles`` ``{"data": [{"type": "profile", "id"}]}`` (≤ 1000).
- Auth: ``Authorization: Klaviyo-API-Key <private key>``; rate limits burst 10/s, steady 150/min.

The primary key column must be mapped to ``email``. Destination fields are profile attributes (``email``,
``phone_number``, ``external_id``, ``first_name``, ``last_name``, ``organization``, ``title``,
``location.city``, ...) or ``properties.<name>`` for custom properties.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from activations.destinations.base import Call, Destination, PreparedRequest, Record, RowResult, nest
from outflow.errors import OutflowError

REVISION = "2026-07-15"
LOOKUP_MAX = 100
_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)(/|$)")


class KlaviyoDestination(Destination):
    type = "klaviyo"
    max_batch_size = 10_000
    max_batch_bytes = 5 * 1024 * 1024

    def check_config(self) -> None:
        self.require_key_mapped_to("email")
        self.list_id = str(self.option("list_id", required=True))
        self.revision = str(self.option("revision", REVISION))
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(f"{self.cfg.path or self.cfg.name}: mode: Klaviyo profile import takes upsert or mirror")

    def _headers(self, body: bool = True) -> dict[str, str]:
        h = {
            "authorization": f"Klaviyo-API-Key {self._secret}",
            "revision": self.revision,
            "accept": "application/vnd.api+json",
        }
        if body:
            h["content-type"] = "application/vnd.api+json"
        return h

    def group(self, records: list[Record]) -> list[list[Record]]:
        ups = [r for r in records if r.op != "delete"]
        dels = [r for r in records if r.op == "delete"]
        return [g for g in [ups, *(dels[i : i + LOOKUP_MAX] for i in range(0, len(dels), LOOKUP_MAX))] if g]

    def _profile(self, r: Record) -> dict[str, Any]:
        attrs = nest({k: (v if k.startswith("properties.") else str(v)) for k, v in r.fields.items() if v is not None})
        if "email" in attrs:
            attrs["email"] = attrs["email"].strip().lower()
        return {"type": "profile", "attributes": attrs}

    def build_request(self, records: list[Record]) -> PreparedRequest:
        body = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": [self._profile(r) for r in records]}},
                "relationships": {"lists": {"data": [{"type": "list", "id": self.list_id}]}},
            }
        }
        url = f"{self.cfg.destination.base_url}/api/profile-bulk-import-jobs"
        return PreparedRequest("POST", url, self._headers(), orjson.dumps(body, default=str))

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        if records[0].op == "delete":
            return await self._remove(call, records)
        return await super().exchange(call, records)

    async def _remove(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        base = self.cfg.destination.base_url
        emails = [r.key.strip().lower() for r in records]
        flt = quote(f"any(email,{json.dumps(emails, separators=(',', ':'))})", safe="")
        lookup = PreparedRequest(
            "GET", f"{base}/api/profiles?filter={flt}&page%5Bsize%5D={LOOKUP_MAX}&fields%5Bprofile%5D=email",
            self._headers(body=False),
        )  # fmt: skip
        resp = await call(lookup)
        if resp.status_code != 200:
            return resp
        ids = [p["id"] for p in resp.json().get("data", [])]
        if ids:  # emails without a profile are not on the list: nothing to remove
            body = {"data": [{"type": "profile", "id": i} for i in ids]}
            delete = PreparedRequest(
                "DELETE", f"{base}/api/lists/{self.list_id}/relationships/profiles", self._headers(),
                orjson.dumps(body),
            )  # fmt: skip
            resp = await call(delete)
            if not 200 <= resp.status_code < 300:
                return resp
        return [RowResult(r.key, True) for r in records]

    def row_errors(self, response: httpx.Response, n: int) -> dict[int, str]:
        try:
            errors = response.json().get("errors", [])
        except (ValueError, AttributeError):
            return {}
        bad: dict[int, str] = {}
        for e in errors:
            m = _POINTER.match(str((e.get("source") or {}).get("pointer", "")))
            if not m or int(m.group(1)) >= n:
                return {}
            bad.setdefault(int(m.group(1)), f"{e.get('title', 'invalid')}: {e.get('detail', '')}".strip())
        return bad

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        # 202: the import job was accepted whole; Klaviyo reports late per-profile errors on the job.
        return [RowResult(r.key, True) for r in records]

    def error_message(self, response: httpx.Response) -> str:
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            errors = None
        if errors:
            return f"HTTP {response.status_code}: " + "; ".join(
                f"{e.get('title')}: {e.get('detail')}" for e in errors[:3]
            )
        return super().error_message(response)
