"""Meta (Facebook) Custom Audiences: customer-list users, added and removed in sessions.

- Add: ``POST {base_url}/{version}/{audience_id}/users``, remove: ``DELETE`` on the same path, each with the
  form-encoded parameters Meta documents for the ``users`` edge: ``payload={"schema": [...], "data": [[...],
  ...]}`` and ``session={"session_id", "batch_seq", "last_batch_flag", "estimated_num_total"}`` (JSON values,
  ``application/x-www-form-urlencoded`` body); at most 10,000 rows per request. The Marketing API version is
  ``options.api_version`` (default in ``activations.destinations.versions``); a ``base_url`` ending in a
  version (``https://graph.facebook.com/v25.0``) names it instead. A retired version is refused before any
  request; Meta answers one with ``OAuthException`` code 2635.
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
- Errors are ``{"error": {"message", "type", "code", "error_subcode", "is_transient"}}``: code 190 (bad token)
  stops the sync; throttling codes (4, 17, 32, 613, 80003, 80004) and ``is_transient`` are retried after the
  ``estimated_time_to_regain_access`` of the ``X-Business-Use-Case-Usage`` header (minutes), else with
  backoff; an accepted answer whose usage header reports 95% or more of a quota used pauses the next request
  (``options.usage_pause_seconds``, default 60; slowing down before Meta throttles). Refusals about the
  request, not rows (``refusal_scope``): a missing audience (code 100, subcode 33), permissions (10, 200-299),
  a deprecated version (2635).
- Auth: ``Authorization: Bearer <access token>`` (never in the URL, so it never reaches a log line).

Fields map source columns to schema keys: EMAIL, PHONE, FN, LN, CT, ST, ZIP, COUNTRY, DOBY, GEN, EXTERN_ID.
The primary key column must be mapped to EMAIL or EXTERN_ID (removals carry only the key).
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlencode

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
from activations.hashing import META_KEYS, meta_value
from outflow.errors import OutflowError

THROTTLE_CODES = {4, 17, 32, 613, 80003, 80004}
REQUEST_CODES = {10, 294, 2635}  # permission, extended permission, deprecated API version
USAGE_PAUSE_PERCENT = 95
_VERSION_IN_URL = re.compile(r"/(v\d+\.\d+)$")


def business_usage(response: httpx.Response) -> list[dict[str, Any]]:
    """The entries of Meta's ``X-Business-Use-Case-Usage`` header (``{business id: [{type, call_count,
    total_cputime, total_time, estimated_time_to_regain_access}]}``); [] if absent or unreadable."""
    raw = response.headers.get("x-business-use-case-usage")
    if not raw:
        return []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(value, dict):
        return []
    return [e for entries in value.values() if isinstance(entries, list) for e in entries if isinstance(e, dict)]


def _number(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


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
        pause = self.option("usage_pause_seconds", 60)
        if isinstance(pause, bool) or not isinstance(pause, int | float) or pause < 0:
            raise OutflowError(f"{where}: destination.options.usage_pause_seconds: a number of seconds >= 0")
        self.usage_pause = float(pause)
        self._session: dict[str, dict[str, int]] = {}
        self._totals = {"add": 0, "remove": 0}

    def begin(self, counts: dict[str, int]) -> None:
        self._totals = {
            "add": counts.get("add", 0) + counts.get("change", 0),
            "remove": counts.get("remove", 0),
        }
        self._session = {}

    @property
    def api_version(self) -> str:
        m = _VERSION_IN_URL.search(self.cfg.destination.base_url)
        return m.group(1) if m else super().api_version or ""

    def version_key(self) -> str:
        if _VERSION_IN_URL.search(self.cfg.destination.base_url):
            return "destination.base_url"
        return super().version_key()

    @property
    def root(self) -> str:
        """``base_url`` without a version at its end."""
        return _VERSION_IN_URL.sub("", self.cfg.destination.base_url)

    def check_request(self) -> PreparedRequest:
        """``GET /{version}/{audience_id}?fields=id,name``: the custom audience, read with the token."""
        url = f"{self.root}/{self.api_version}/{self.audience_id}?fields=id,name"
        return PreparedRequest("GET", url, self._headers())

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._secret}", "content-type": "application/x-www-form-urlencoded"}

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
        params = {"payload": orjson.dumps({"schema": schema, "data": data}).decode()}
        if session:  # isolation resends go alone: they are not part of the run's upload session
            params["session"] = orjson.dumps(self._session_for("remove" if delete else "add", len(records))).decode()
        url = f"{self.root}/{self.api_version}/{self.audience_id}/users"
        return PreparedRequest("DELETE" if delete else "POST", url, self._headers(), urlencode(params).encode())

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

    def refusal_scope(self, response: httpx.Response) -> RefusalScope:
        err = self._error(response)
        code, sub = err.get("code"), err.get("error_subcode")
        if code in REQUEST_CODES or (isinstance(code, int) and 200 <= code <= 299) or (code == 100 and sub == 33):
            return "request"
        return super().refusal_scope(response)

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """``estimated_time_to_regain_access`` (minutes) of the usage header, when Meta names one."""
        minutes = max((_number(e.get("estimated_time_to_regain_access")) for e in business_usage(response)), default=0)
        return minutes * 60 if minutes > 0 else None

    def quota_delay(self, response: httpx.Response) -> float | None:
        """At 95% or more of a business-use-case quota: wait until Meta says access is regained, at least
        ``options.usage_pause_seconds`` (default 60: Meta's usage is a rolling hour in whole percent; 0: off)."""
        if not self.usage_pause:
            return None
        usage = business_usage(response)
        used = max((max(_number(e.get(k)) for k in ("call_count", "total_cputime", "total_time")) for e in usage),
                   default=0.0)  # fmt: skip
        if used < USAGE_PAUSE_PERCENT:
            return None
        return max(self.usage_pause, self.throttle_delay(response) or 0.0)

    def error_message(self, response: httpx.Response) -> str:
        err = self._error(response)
        if err:
            return f"HTTP {response.status_code}: ({err.get('type')} #{err.get('code')}) {err.get('message')}"
        return super().error_message(response)
