"""Meta (Facebook) Custom Audiences: customer-list users, added and removed in sessions.

- Add: ``POST {base_url}/{audience_id}/users``, remove: ``DELETE {base_url}/{audience_id}/users``, each with
  ``{"payload": {"schema": [...], "data": [[...], ...]}, "session": {"session_id", "batch_seq",
  "last_batch_flag", "estimated_num_total"}}``; at most 10,000 rows per request. ``base_url`` carries the
  Graph API version, e.g. ``https://graph.facebook.com/v21.0``.
- Every field is normalized and SHA-256 hashed by ``activations.hashing`` (Meta's rules); EXTERN_ID is sent as
  is; values that already are SHA-256 digests pass through. A row left with no identifier is rejected locally,
  never sent.
- Answer: ``{"audience_id", "session_id", "num_received", "num_invalid_entries", "invalid_entry_samples"}``;
  rows whose values appear among the invalid samples are recorded as rejected. Meta samples only some of the
  invalid entries: when ``num_invalid_entries`` exceeds the rows the samples name, the other rows of the batch
  are sent again in halves (adds and removals are idempotent; these resends carry no session) until every
  invalid entry is named or alone, within ``options.isolate_invalid_requests`` extra requests per batch
  (default 32); rows still unexplained then are rejected as unconfirmed (and resent next run), never counted
  as delivered.
- Errors are ``{"error": {"message", "type", "code", "is_transient"}}``: code 190 (bad token) stops the sync,
  throttling codes (4, 17, 32, 613, 80003) and ``is_transient`` are retried with backoff.
- Auth: ``Authorization: Bearer <access token>`` (never in the URL, so it never reaches a log line).

Fields map source columns to schema keys: EMAIL, PHONE, FN, LN, CT, ST, ZIP, COUNTRY, DOBY, GEN, EXTERN_ID.
The primary key column must be mapped to EMAIL or EXTERN_ID (removals carry only the key).
"""

from __future__ import annotations

import secrets
from typing import Any

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
from activations.hashing import META_KEYS, meta_value
from outflow.errors import OutflowError

THROTTLE_CODES = {4, 17, 32, 613, 80003, 80004}


class MetaAudienceDestination(Destination):
    type = "meta_audiences"
    max_batch_size = 10_000
    deletes_apart = True
    erasure = "remove from audience"
    records_sent_identifiers = True

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        for src, key in self.cfg.fields.items():
            if key not in META_KEYS:
                raise OutflowError(
                    f"{where}: fields.{src}: {key!r} is not a Meta schema key; use one of {', '.join(META_KEYS)}"
                )
        self.key_field = self.require_key_mapped_to("EMAIL", "EXTERN_ID")
        self.audience_id = str(self.option("audience_id", required=True))
        self.default_region = self.option("default_region")
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(f"{where}: mode: Meta Custom Audiences take upsert (add) or mirror (add and remove)")
        self.schema = list(self.cfg.fields.values())
        budget = self.option("isolate_invalid_requests", 32)
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise OutflowError(f"{where}: destination.options.isolate_invalid_requests: a whole number >= 0")
        self.isolate_budget = budget
        self._session: dict[str, dict[str, int]] = {}
        self._totals = {"add": 0, "remove": 0}

    def begin(self, counts: dict[str, int]) -> None:
        self._totals = {
            "add": counts.get("add", 0) + counts.get("change", 0),
            "remove": counts.get("remove", 0),
        }
        self._session = {}

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._secret}", "content-type": "application/json"}

    def row(self, r: Record) -> list[str]:
        """The hashed row for this record, in schema order ("" for a missing value)."""
        country = None
        for k, v in r.fields.items():
            if k == "COUNTRY" and v:
                country = str(v)
        return [
            meta_value(k, r.fields.get(k), country=country, default_region=self.default_region) for k in self.schema
        ]

    def _session_for(self, op: str, n: int) -> dict[str, Any]:
        s = self._session.setdefault(op, {"session_id": secrets.randbits(62), "batch_seq": 0, "sent": 0})
        s["batch_seq"] += 1
        s["sent"] += n
        total = max(self._totals.get(op, 0), s["sent"])
        return {
            "session_id": s["session_id"],
            "batch_seq": s["batch_seq"],
            "last_batch_flag": s["sent"] >= total,
            "estimated_num_total": total,
        }

    def sent_identifiers(self, record: Record) -> list[Any]:
        """The row as sent (hashed schema key -> value), without its empty values."""
        return [{k: v for k, v in zip(self.schema, self.row(record), strict=True) if v}]

    def removal_rows(self, records: list[Record]) -> tuple[list[str], list[list[str]]]:
        """Schema and rows removing these records by every identifier set that was sent for them (a record
        with none recorded: by its key)."""
        sets = [s for r in records for s in (r.sent or ({self.key_field: meta_value(self.key_field, r.key,
                default_region=self.default_region)},))]  # fmt: skip
        schema = [k for k in META_KEYS if any(k in s for s in sets)]
        return schema, [[s.get(k, "") for k in schema] for s in sets]

    def build_request(self, records: list[Record], *, session: bool = True) -> PreparedRequest:
        delete = records[0].op == "delete"
        if delete:
            schema, data = self.removal_rows(records)
        else:
            schema, data = self.schema, [self.row(r) for r in records]
        body: dict[str, Any] = {"payload": {"schema": schema, "data": data}}
        if session:  # isolation resends go alone: they are not part of the run's upload session
            body["session"] = self._session_for("remove" if delete else "add", len(records))
        url = f"{self.cfg.destination.base_url}/{self.audience_id}/users"
        return PreparedRequest("DELETE" if delete else "POST", url, self._headers(), orjson.dumps(body))

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        usable, empty = [], []
        for r in records:
            if r.op == "delete" or any(self.row(r)):
                usable.append(r)
            else:
                empty.append(RowResult(r.key, False, "no identifier left after Meta normalization"))
        if not usable:
            return empty
        resp = await call(self.build_request(usable))
        if not 200 <= resp.status_code < 300:
            return resp  # the deliverer splits or rejects; empty rows are judged again in the halves
        results = self.parse_response(resp, usable)
        unexplained = self._invalid_count(resp) - sum(1 for r in results if not r.ok)
        if unexplained > 0:
            suspects = [r for r, res in zip(usable, results, strict=True) if res.ok]
            budget = [self.isolate_budget]
            failed = await self._isolate(call, suspects, unexplained, budget)
            results = [failed.get(r.key, r) for r in results]
        return results + empty

    @staticmethod
    def _invalid_count(response: httpx.Response) -> int:
        try:
            return int(response.json().get("num_invalid_entries") or 0)
        except (ValueError, TypeError, AttributeError):
            return 0

    async def _isolate(self, call: Call, rows: list[Record], invalid: int, budget: list[int]) -> dict[str, RowResult]:
        """Meta counted ``invalid`` entries among ``rows`` without naming them in ``invalid_entry_samples``.
        Adds and removals are idempotent, so halves are sent again (outside the session) until each invalid
        entry is named or alone; when ``budget`` (requests) runs out the rest are rejected as unconfirmed."""
        if invalid <= 0 or not rows:
            return {}
        if invalid >= len(rows):
            msg = "invalid entry: counted invalid by Meta (num_invalid_entries), not named in its samples"
            return {r.key: RowResult(r.key, False, msg) for r in rows}
        if budget[0] < 2:
            msg = (f"unconfirmed: Meta counted {invalid} invalid entries among {len(rows)} rows sent together "
                   "without naming them; resent next run")  # fmt: skip
            return {r.key: RowResult(r.key, False, msg) for r in rows}
        out: dict[str, RowResult] = {}
        mid = len(rows) // 2
        for half in (rows[:mid], rows[mid:]):
            budget[0] -= 1
            resp = await call(self.build_request(half, session=False))
            if not 200 <= resp.status_code < 300:
                msg = f"unconfirmed: {self.error_message(resp)}"
                out.update({r.key: RowResult(r.key, False, msg) for r in half})
                continue
            results = self.parse_response(resp, half)
            out.update({res.key: res for res in results if not res.ok})
            left = self._invalid_count(resp) - sum(1 for res in results if not res.ok)
            rest = [r for r, res in zip(half, results, strict=True) if res.ok]
            out.update(await self._isolate(call, rest, left, budget))
        return out

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        body = require_dict(answer_of(response), "num_received")
        if body["num_received"] != len(records):
            raise Unconfirmed(f"num_received {body['num_received']!r} for {len(records)} rows sent")
        samples = body.get("invalid_entry_samples") or {}
        out = []
        for r in records:
            values = self.removal_rows([r])[1][0] if r.op == "delete" else self.row(r)
            bad = next((v for v in values if v and v in samples), None)
            out.append(RowResult(r.key, bad is None, None if bad is None else f"invalid entry: {samples[bad]}"))
        return out

    def _error(self, response: httpx.Response) -> dict[str, Any]:
        try:
            err = response.json().get("error")
        except (ValueError, AttributeError):
            return {}
        return err if isinstance(err, dict) else {}

    def is_auth_failure(self, response: httpx.Response) -> bool:
        return response.status_code in (401, 403) or self._error(response).get("code") == 190

    def is_transient(self, response: httpx.Response) -> bool:
        err = self._error(response)
        return bool(err) and (err.get("code") in THROTTLE_CODES or bool(err.get("is_transient")))

    def error_message(self, response: httpx.Response) -> str:
        err = self._error(response)
        if err:
            return f"HTTP {response.status_code}: ({err.get('type')} #{err.get('code')}) {err.get('message')}"
        return super().error_message(response)
