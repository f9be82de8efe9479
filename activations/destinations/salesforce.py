"""Salesforce sObject Collections: upsert by external id, and removal (mirror) by delete or clear.

- Upsert: ``PATCH {base_url}/services/data/{api_version}/composite/sobjects/{SObject}/{ExternalIdField}`` with
  ``{"allOrNone": false, "records": [{"attributes": {"type": SObject}, <ExternalIdField>: key, ...}]}``, at
  most 200 records; the answer is one result per record, in order: ``{"id", "success", "created", "errors":
  [{"statusCode", "message", "fields"}]}``.
- Removal (``mode: mirror``, ``options.on_remove`` required): the record Ids are looked up by external id with a
  SOQL query, ``GET .../query?q=SELECT Id, <ExternalIdField> FROM <SObject> WHERE <ExternalIdField> IN (...)``
  (following ``nextRecordsUrl`` while ``done`` is false), then
  - ``on_remove: delete``: ``DELETE .../composite/sobjects?ids=<id>,<id>&allOrNone=false`` (at most 200 ids),
    one DeleteResult per id, in order;
  - ``on_remove: clear``: ``PATCH .../composite/sobjects`` ``{"allOrNone": false, "records": [{"attributes",
    "id", <field>: null, ...}]}`` sets ``options.clear_fields`` (comma-separated; default: every mapped field
    except the external id) to null; the record stays, so a person who comes back is updated in place.
  A key with no record in Salesforce, or whose record is already gone (``ENTITY_IS_DELETED``, ``NOT_FOUND``),
  counts as removed; any other per-record error rejects that row with Salesforce's message.
- Reconciliation lists the records of the SObject that carry the external id: ``GET .../query?q=SELECT Id,
  <ExternalIdField> FROM <SObject> WHERE <ExternalIdField> != null``, paged like the look-up; with ``on_remove:
  clear`` a record whose ``clear_fields`` are all null was cleared and does not count as held.
- ``REQUEST_LIMIT_EXCEEDED`` (HTTP 403, the org's API request allowance) is retried with backoff, never taken
  for an auth failure; ``INVALID_SESSION_ID`` (401) stops the sync.
- A whole request refused with 404 (an SObject or external id field the org does not have: ``NOT_FOUND``) or
  with a code about the object or the org (``INVALID_TYPE``, ``INVALID_FIELD``, ``INSUFFICIENT_ACCESS_OR_READONLY``,
  ``API_DISABLED_FOR_ORG``, ``FUNCTIONALITY_NOT_ENABLED``) is about the request: the sync stops after that one
  request with Salesforce's message (per-record errors come inside a 200 answer and stay per row).
- Auth: ``Authorization: Bearer <access token>``. ``destination.object`` is the SObject (e.g. ``Contact``);
  options: ``external_id_field`` (required), ``api_version`` (default in ``activations.destinations.versions``;
  a retired one is refused before any request, as Salesforce answers it with 410), ``on_remove``, ``clear_fields``.

The sync's primary key column must be mapped to the external id field, a Text external id (the look-up compares
it as a SOQL string literal).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import orjson

from activations.destinations.base import Call, Destination, PreparedRequest, Record, RefusalScope, RowResult
from outflow.errors import OutflowError

MAX_RECORDS = 200  # sObject Collections: at most 200 records (or ids) per call
GONE = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND"})  # the record is already gone: nothing left to remove
ON_REMOVE = ("clear", "delete")
_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Salesforce's codes for a whole request refused over the object, its fields or the org (not a row)
_REQUEST_CODES = frozenset({"NOT_FOUND", "INVALID_TYPE", "INVALID_FIELD", "INSUFFICIENT_ACCESS_OR_READONLY",
                            "API_DISABLED_FOR_ORG", "FUNCTIONALITY_NOT_ENABLED"})  # fmt: skip
_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
                 "\f": "\\f"}  # fmt: skip
_MAX_IN_CHARS = 6000  # keeps each look-up URL far below Salesforce's URI and SOQL length limits


def soql_literal(value: str) -> str:
    """A SOQL string literal: quoted, with Salesforce's reserved characters escaped."""
    return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in value) + "'"


_MISMATCH = "unconfirmed: unexpected Salesforce answer (results do not match records)"


class SalesforceDestination(Destination):
    type = "salesforce"
    max_batch_size = MAX_RECORDS
    deletes_apart = True
    erasure = "delete contact"
    can_list_members = True

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        self.ext_field = str(self.option("external_id_field", required=True))
        self.require_key_mapped_to(self.ext_field)
        if not re.fullmatch(r"v\d+\.\d", self.api_version):
            raise OutflowError(f"{where}: destination.options.api_version: {self.api_version!r} is not like v62.0")
        window = self.option("allocation_window_seconds", 86_400)
        if isinstance(window, bool) or not isinstance(window, int | float) or window < 0:
            raise OutflowError(f"{where}: destination.options.allocation_window_seconds: a number of seconds >= 0")
        self.allocation_window = float(window)
        self.sobject = self.cfg.destination.object
        for key, name in (("destination.object", self.sobject), ("destination.options.external_id_field",
                                                                  self.ext_field)):  # fmt: skip
            if not _NAME.match(name):
                raise OutflowError(f"{where}: {key}: {name!r} is not a Salesforce API name (letters, digits, _)")
        mode = self.cfg.mode.value
        if mode not in ("upsert", "mirror"):
            raise OutflowError(
                f"{where}: mode: the Salesforce destination upserts by external id (mode: upsert) or also removes "
                "records that left the model (mode: mirror with destination.options.on_remove)"
            )
        self.on_remove = self.option("on_remove")
        if mode == "mirror" and self.on_remove not in ON_REMOVE:
            raise OutflowError(
                f"{where}: destination.options.on_remove: mirror mode must say what happens to a Salesforce record "
                f"whose row left the model: clear (null its mapped fields) or delete (delete the record); "
                f"got {self.on_remove!r}"
            )
        mapped = [f for f in self.cfg.fields.values() if f != self.ext_field]
        clear = self.option("clear_fields")
        self.clear_fields = mapped if clear is None else [f.strip() for f in str(clear).split(",") if f.strip()]
        if self.on_remove == "clear":
            bad = [f for f in self.clear_fields if f not in mapped]
            if bad or not self.clear_fields:
                raise OutflowError(
                    f"{where}: destination.options.clear_fields: name mapped fields other than the external id "
                    f"({', '.join(mapped) or 'none mapped'}); {bad[0] if bad else 'the list is empty'!r} is not one"
                )

    # --- requests -----------------------------------------------------------------------------------
    def check_request(self) -> PreparedRequest:
        """``GET /services/data/{version}/limits``: the org's API limits (needs a valid access token)."""
        return PreparedRequest("GET", self._url("limits"), self._headers())

    def _url(self, tail: str) -> str:
        return f"{self.cfg.destination.base_url}/services/data/{self.api_version}/{tail}"

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._secret}", "content-type": "application/json"}

    def build_request(self, records: list[Record]) -> PreparedRequest:
        recs = []
        for r in records:
            rec: dict[str, Any] = {"attributes": {"type": self.sobject}, **r.fields}
            rec[self.ext_field] = r.key
            recs.append(rec)
        body = orjson.dumps({"allOrNone": False, "records": recs}, default=str)
        return PreparedRequest("PATCH", self._url(f"composite/sobjects/{self.sobject}/{self.ext_field}"),
                               self._headers(), body)  # fmt: skip

    def lookup_queries(self, keys: list[str]) -> list[str]:
        """SOQL queries finding the record Ids of these external ids (split to keep each URL short)."""
        out, chunk, size = [], [], 0
        for k in keys:
            lit = soql_literal(k)
            if chunk and size + len(lit) > _MAX_IN_CHARS:
                out.append(chunk)
                chunk, size = [], 0
            chunk.append(lit)
            size += len(lit) + 1
        if chunk:
            out.append(chunk)
        return [
            f"SELECT Id, {self.ext_field} FROM {self.sobject} WHERE {self.ext_field} IN ({','.join(c)})" for c in out
        ]

    async def _lookup(self, call: Call, keys: list[str]) -> dict[str, list[str]] | httpx.Response:
        """external id -> record Ids (a key Salesforce does not hold is absent), or the failed response."""
        found: dict[str, list[str]] = {}
        for soql in self.lookup_queries(keys):
            records = await self._query(call, soql)
            if isinstance(records, httpx.Response):
                return records
            for rec in records:
                found.setdefault(str(rec.get(self.ext_field)), []).append(str(rec["Id"]))
        return found

    async def _query(self, call: Call, soql: str) -> list[dict[str, Any]] | httpx.Response:
        """Every record a SOQL query answers (following ``nextRecordsUrl`` while ``done`` is false), or the
        failed response."""
        records: list[dict[str, Any]] = []
        url: str | None = self._url(f"query?q={quote_plus(soql)}")
        while url:
            resp = await call(PreparedRequest("GET", url, self._headers()))
            if resp.status_code != 200:
                return resp
            page = resp.json()
            records += page.get("records", [])
            nxt = None if page.get("done", True) else page.get("nextRecordsUrl")
            url = f"{self.cfg.destination.base_url}{nxt}" if nxt else None
        return records

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        if records[0].op != "delete":
            return await super().exchange(call, records)
        found = await self._lookup(call, [r.key for r in records])
        if isinstance(found, httpx.Response):
            return found
        pairs = [(rid, r.key) for r in records for rid in found.get(r.key, [])]
        failed: dict[str, str] = {}
        for i in range(0, len(pairs), MAX_RECORDS):
            chunk = pairs[i : i + MAX_RECORDS]
            resp = await call(self._delete(chunk) if self.on_remove == "delete" else self._clear(chunk))
            if resp.status_code != 200:
                return resp
            results = resp.json()
            if not isinstance(results, list) or len(results) != len(chunk):
                return [RowResult(r.key, False, _MISMATCH) for r in records]
            for (_, key), res in zip(chunk, results, strict=True):
                msg = self._failure(res, ignore=GONE)
                if msg:
                    failed.setdefault(key, msg)
        return [RowResult(r.key, r.key not in failed, failed.get(r.key)) for r in records]

    def _delete(self, pairs: list[tuple[str, str]]) -> PreparedRequest:
        ids = quote(",".join(rid for rid, _ in pairs), safe=",")
        return PreparedRequest("DELETE", self._url(f"composite/sobjects?ids={ids}&allOrNone=false"), self._headers())

    def _clear(self, pairs: list[tuple[str, str]]) -> PreparedRequest:
        nulls = dict.fromkeys(self.clear_fields)
        recs = [{"attributes": {"type": self.sobject}, "id": rid, **nulls} for rid, _ in pairs]
        body = orjson.dumps({"allOrNone": False, "records": recs})
        return PreparedRequest("PATCH", self._url("composite/sobjects"), self._headers(), body)

    async def list_members(self, call: Call) -> set[str]:
        """The external ids of the SObject's records that carry one (every such record counts as this sync's);
        with ``on_remove: clear``, records whose cleared fields are all null are left out."""
        where = self.cfg.path or self.cfg.name
        if self.on_remove not in ON_REMOVE:
            raise OutflowError(
                f"{where}: destination.options.on_remove: reconciliation removes Salesforce records the model does "
                "not hold; say how: clear (null their mapped fields) or delete"
            )
        cleared = self.clear_fields if self.on_remove == "clear" else []
        soql = f"SELECT Id, {', '.join([self.ext_field, *cleared])} FROM {self.sobject} WHERE {self.ext_field} != null"
        records = await self._query(call, soql)
        if isinstance(records, httpx.Response):
            msg = self.error_message(records)
            raise OutflowError(f"sync {self.cfg.name}: listing Salesforce records failed: {msg}")
        return {
            str(r[self.ext_field])
            for r in records
            if r.get(self.ext_field) not in (None, "") and (not cleared or any(r.get(f) is not None for f in cleared))
        }

    # --- answers ------------------------------------------------------------------------------------
    @staticmethod
    def _failure(res: dict[str, Any], ignore: frozenset[str] = frozenset()) -> str | None:
        """None for a successful per-record result (or an ignored error code), else ``CODE: message [fields]``."""
        if res.get("success"):
            return None
        e = (res.get("errors") or [{}])[0]
        if e.get("statusCode") in ignore:
            return None
        fields = f" [{', '.join(e.get('fields') or [])}]" if e.get("fields") else ""
        return f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}{fields}"

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        results = response.json()
        if not isinstance(results, list) or len(results) != len(records):
            return [RowResult(r.key, False, _MISMATCH) for r in records]
        out = []
        for r, res in zip(records, results, strict=True):
            msg = self._failure(res)
            out.append(RowResult(r.key, msg is None, msg))
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

    def refusal_scope(self, response: httpx.Response) -> RefusalScope:
        if response.status_code == 404 or self._codes(response) & _REQUEST_CODES:
            return "request"
        return super().refusal_scope(response)

    def quota_delay(self, response: httpx.Response) -> float | None:
        """``Sforce-Limit-Info: api-usage=used/limit`` at 95% or more of the org's allocation (a rolling
        ``options.allocation_window_seconds``, 24 hours; 0 turns this off): pace at the rate the allocation
        sustains, one request per window/limit seconds, instead of running into REQUEST_LIMIT_EXCEEDED."""
        m = _API_USAGE.search(response.headers.get("sforce-limit-info", ""))
        if not m or not self.allocation_window:
            return None
        used, limit = int(m.group(1)), int(m.group(2))
        if limit <= 0 or used < 0.95 * limit:
            return None
        return self.allocation_window / limit

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

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """Delete the records (sObject collections ``DELETE``), whatever the sync's ``on_remove`` (an erasure
        never only clears fields) and whatever its mode: this instance serves the erasure run alone."""
        self.on_remove = "delete"
        return await super().erase(call, records)
