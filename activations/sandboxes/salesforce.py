"""Salesforce sandbox: sObject Collections (upsert by external id, update by Id, delete by Id) and SOQL query.

Endpoints, as the REST API reference describes them:
- ``PATCH /services/data/vXX.X/composite/sobjects/{SObject}/{ExternalIdField}`` upsert by external id;
- ``PATCH /services/data/vXX.X/composite/sobjects`` update by Id (records carry ``attributes.type`` and ``id``;
  a JSON ``null`` clears a field);
- ``DELETE /services/data/vXX.X/composite/sobjects?ids=<id>,<id>&allOrNone=false``: one DeleteResult per id, in
  order; a deleted record goes to the recycle bin, so deleting (or updating) it again answers
  ``ENTITY_IS_DELETED``; an id the org never held answers ``NOT_FOUND``;
- ``GET /services/data/vXX.X/query?q=SELECT Id, <f> FROM <SObject> WHERE <f> IN ('a','b')`` (the subset of SOQL
  the destination uses, and ``... WHERE <f> != null`` for reconciliation; anything else is ``MALFORMED_QUERY``),
  paged like Salesforce: ``done``, ``totalSize``, ``nextRecordsUrl`` (``GET /services/data/vXX.X/query/<locator>``),
  2,000 records per page by default (``query_page_size``).

Checks: ``allOrNone`` boolean; 1..200 records (or ids) per collection call, else ``EXCEEDED_ID_LIMIT``;
``attributes.type`` equal to the SObject; unknown fields ``INVALID_FIELD`` per record. Per-record failures use
``{"success": false, "errors": [{"statusCode", "message", "fields"}]}``.

Limits: Salesforce publishes no per-second rate. It meters a rolling 24-hour request allocation per org
(Enterprise Edition: 100,000 + 1,000 per user licence) and 25 concurrent requests running 20 s or longer, and
answers ``403 [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]`` when
the allocation is spent. With ``real_rate_limit=True`` this sandbox enforces the Enterprise base allocation
(100,000 requests per 86,400 s, as a bucket that starts full); tests pass a small explicit ``rate_limit``.
Every answer carries ``Sforce-Limit-Info: api-usage=<used>/<allocation>`` as Salesforce's do.
"""

from __future__ import annotations

import re
import socket
import uuid
from typing import Any

from activations.destinations.versions import served
from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox

MAX_RECORDS = 200
_V = r"/services/data/v(?P<v>\d+\.\d+)"
_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+(?P<sobject>\w+)\s+WHERE\s+(?P<field>\w+)\s+IN\s*"
    r"\((?P<values>.*)\)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_NOT_NULL = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+(?P<sobject>\w+)\s+WHERE\s+(?P<field>\w+)\s*!=\s*null\s*$",
    re.IGNORECASE,
)
_LITERAL = re.compile(r"\s*'((?:[^'\\]|\\.)*)'\s*(,|$)", re.DOTALL)
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _sf_error(status: int, code: str, message: str) -> SandboxError:
    return SandboxError(status, [{"message": message, "errorCode": code}])


def _literals(text: str) -> list[str]:
    """The values of a SOQL IN list of string literals (backslash escapes undone)."""
    out, pos = [], 0
    while pos < len(text):
        m = _LITERAL.match(text, pos)
        if not m:
            raise _sf_error(400, "MALFORMED_QUERY", f"unexpected token near: {text[pos : pos + 30]!r}")
        out.append(re.sub(r"\\(.)", lambda e: _UNESCAPE.get(e.group(1), e.group(1)), m.group(1)))
        pos = m.end()
    return out


class SalesforceSandbox(VendorSandbox):
    name = "salesforce"
    # no published per-second figure: the Enterprise base allocation of 100,000 requests per rolling 24 hours
    default_rate_limit = (100_000.0, 86_400.0)

    def __init__(self, *, fields: set[str] | None = None, query_page_size: int = 2000, **kw: Any) -> None:
        self.known_fields = fields  # None: any field accepted
        self.query_page_size = query_page_size
        super().__init__(**kw)
        self.allocation = int(self.bucket.capacity) if self.bucket else 100_000

    def limits(self, req: Request) -> Response:
        """``GET /services/data/vXX.X/limits``: the org's limits."""
        return Response(200, {"DailyApiRequests": {"Max": 15000, "Remaining": 14999}})

    def routes(self) -> list[Route]:
        return [
            ("GET", _V + r"/limits", self.limits),
            ("PATCH", _V + r"/composite/sobjects/(?P<sobject>\w+)/(?P<ext>\w+)", self.upsert),
            ("PATCH", _V + r"/composite/sobjects", self.update),
            ("DELETE", _V + r"/composite/sobjects", self.delete),
            ("GET", _V + r"/query/?", self.query),
            ("GET", _V + r"/query/(?P<locator>[\w-]+)", self.query_more),
        ]

    def auth_error(self) -> Response:
        return Response(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])

    def rate_limited(self, wait: float) -> Response:
        return Response(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])

    def fault_response(self, code: int, message: str | None) -> Any:
        return [{"message": message or f"injected {code}", "errorCode": "UNKNOWN_EXCEPTION"}]

    def handle(self, req: Request, conn: socket.socket) -> Response | None:
        m = re.match(r"/services/data/(v\d+\.\d+)/", req.path)
        if m and not served("salesforce", m.group(1)):  # Salesforce: a retired API version answers 410 Gone
            self.count("version_retired")
            return Response(410, [{"message": f"API version {m.group(1)[1:]} is retired", "errorCode": "GONE"}])
        resp = super().handle(req, conn)
        if resp is not None and not req.path.startswith("/_sandbox"):
            resp.headers["sforce-limit-info"] = f"api-usage={self.api_usage()}/{self.allocation}"
        return resp

    def api_usage(self) -> int:
        """Requests counted against the allocation now: the rolling window's use (all requests when unlimited)."""
        if self.bucket is None:
            return self.stats.get("requests", 0)
        with self.bucket.lock:
            return int(self.bucket.capacity - self.bucket.tokens)

    def reset_store(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}  # sobject -> Id -> record
        self.ext_fields: dict[str, str] = {}  # sobject -> external id field of the last upsert
        self.recycle_bin: dict[str, dict[str, Any]] = {}  # Id -> deleted record
        self.cursors: dict[str, list[dict[str, Any]]] = {}  # query locator -> remaining records
        self._seq = 0

    def store(self) -> Any:
        return {"objects": self.objects, "recycle_bin": sorted(self.recycle_bin)}

    def records(self, sobject: str) -> dict[str, dict[str, Any]]:
        """The live records of ``sobject`` keyed by their external id (the field of the last upsert)."""
        with self.lock:
            ext = self.ext_fields.get(sobject)
            return {str(v.get(ext)): dict(v) for v in self.objects.get(sobject, {}).values()}

    def delete_out_of_band(self, sobject: str, key: str) -> None:
        """A Salesforce user deletes the record with this external id (it goes to the recycle bin)."""
        with self.lock:
            ext = self.ext_fields[sobject]
            rid = next(i for i, r in self.objects[sobject].items() if str(r.get(ext)) == key)
            self.recycle_bin[rid] = self.objects[sobject].pop(rid)

    # --- helpers --------------------------------------------------------------------------------------
    def _collection(self, req: Request) -> list[dict[str, Any]]:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _sf_error(400, "JSON_PARSER_ERROR", "records is required")
        if not isinstance(body.get("allOrNone", False), bool):
            raise _sf_error(400, "JSON_PARSER_ERROR", "allOrNone must be boolean")
        if not 1 <= len(body["records"]) <= MAX_RECORDS:
            raise _sf_error(400, "EXCEEDED_ID_LIMIT", f"record limit is {MAX_RECORDS}")
        return body["records"]

    def _fail(self, code: str, message: str, fields: list[str]) -> dict[str, Any]:
        self.count("rows_refused")
        return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields}]}

    def _unknown(self, rec: dict[str, Any], skip: set[str]) -> list[str]:
        if self.known_fields is None:
            return []
        return [f for f in rec if f not in skip and f not in self.known_fields]

    def _gone(self, rid: str) -> dict[str, Any]:
        if rid in self.recycle_bin:
            return self._fail("ENTITY_IS_DELETED", "entity is deleted", [])
        return self._fail("NOT_FOUND", "The requested resource does not exist", [])

    def _partial(self, sobject: str, record: dict[str, Any]) -> str | None:
        ext = self.ext_fields.get(sobject)
        return self.faults.partial_keys.get(str(record.get(ext))) if ext else None

    # --- routes ---------------------------------------------------------------------------------------
    def upsert(self, req: Request) -> Response:
        sobject, ext = req.params["sobject"], req.params["ext"]
        recs = self._collection(req)
        results = []
        with self.lock:
            self.ext_fields[sobject] = ext
            store = self.objects.setdefault(sobject, {})
            by_key = {str(r.get(ext)): rid for rid, r in store.items()}
            for rec in recs:
                if (rec.get("attributes") or {}).get("type") != sobject:
                    results.append(self._fail("INVALID_TYPE", f"attributes.type must be {sobject}", []))
                    continue
                key = rec.get(ext)
                if key in (None, ""):
                    results.append(self._fail("REQUIRED_FIELD_MISSING", f"{ext} is required", [ext]))
                    continue
                unknown = self._unknown(rec, {"attributes", ext})
                if unknown:
                    results.append(self._fail("INVALID_FIELD", f"No such column '{unknown[0]}' on {sobject}", unknown))
                    continue
                if str(key) in self.faults.partial_keys:
                    msg = self.faults.partial_keys[str(key)]
                    results.append(self._fail("FIELD_CUSTOM_VALIDATION_EXCEPTION", msg, []))
                    continue
                rid = by_key.get(str(key))
                created = rid is None
                if rid is None:
                    self._seq += 1
                    rid = by_key[str(key)] = f"003{self._seq:015d}"
                cur = store.get(rid, {"Id": rid})
                store[rid] = {**cur, **{k: v for k, v in rec.items() if k != "attributes"}}
                results.append({"id": rid, "success": True, "errors": [], "created": created})
            self.stats["rows_applied"] += sum(1 for r in results if r["success"])
        return Response(200, results)

    def update(self, req: Request) -> Response:
        recs = self._collection(req)
        results = []
        with self.lock:
            for rec in recs:
                sobject = (rec.get("attributes") or {}).get("type")
                rid = rec.get("id") or rec.get("Id")
                store = self.objects.get(str(sobject), {})
                if not sobject:
                    results.append(self._fail("INVALID_TYPE", "attributes.type is required", []))
                elif not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?", rid):
                    results.append(self._fail("MALFORMED_ID", f"malformed id {rid}", ["Id"]))
                elif rid not in store:
                    results.append(self._gone(rid))
                elif unknown := self._unknown(rec, {"attributes", "id", "Id"}):
                    results.append(self._fail("INVALID_FIELD", f"No such column '{unknown[0]}' on {sobject}", unknown))
                elif msg := self._partial(sobject, store[rid]):
                    results.append(self._fail("FIELD_CUSTOM_VALIDATION_EXCEPTION", msg, []))
                else:
                    store[rid].update({k: v for k, v in rec.items() if k not in ("attributes", "id", "Id")})
                    results.append({"id": rid, "success": True, "errors": []})
                    self.stats["rows_updated"] += 1
        return Response(200, results)

    def delete(self, req: Request) -> Response:
        raw = req.q("ids")
        if not raw:
            raise _sf_error(400, "MALFORMED_QUERY", "ids is required")
        if (req.q("allOrNone") or "false") not in ("true", "false"):
            raise _sf_error(400, "INVALID_QUERY_FILTER_OPERATOR", "allOrNone must be true or false")
        ids = raw.split(",")
        if len(ids) > MAX_RECORDS:
            raise _sf_error(400, "EXCEEDED_ID_LIMIT", f"record limit is {MAX_RECORDS}")
        results = []
        with self.lock:
            for rid in ids:
                where = next((s for s, recs in self.objects.items() if rid in recs), None)
                if where is None:
                    results.append(self._gone(rid))
                elif msg := self._partial(where, self.objects[where][rid]):
                    results.append(self._fail("DELETE_FAILED", msg, []))
                else:
                    self.recycle_bin[rid] = self.objects[where].pop(rid)
                    results.append({"id": rid, "success": True, "errors": []})
                    self.stats["rows_removed"] += 1
        return Response(200, results)

    def query(self, req: Request) -> Response:
        soql = req.q("q")
        if not soql:
            raise _sf_error(400, "MALFORMED_QUERY", "q is required")
        if len(soql) > 100_000:
            raise _sf_error(400, "MALFORMED_QUERY", "SOQL statements cannot exceed 100,000 characters")
        m = _SELECT.match(soql) or _NOT_NULL.match(soql)
        if not m:
            raise _sf_error(400, "MALFORMED_QUERY", f"unsupported query: {soql[:80]}")
        fields = [f.strip() for f in m.group("fields").split(",")]
        sobject, field = m.group("sobject"), m.group("field")
        values = set(_literals(m.group("values"))) if m.re is _SELECT else None  # None: the field is not null
        with self.lock:
            if sobject not in self.objects and sobject not in self.ext_fields:
                raise _sf_error(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
            hits = [
                {"attributes": {"type": sobject, "url": f"/services/data/v{req.params['v']}/sobjects/{sobject}/{rid}"},
                 **{f: r.get(f) for f in fields}}
                for rid, r in self.objects.get(sobject, {}).items()
                if (r.get(field) is not None if values is None else str(r.get(field)) in values)
            ]  # fmt: skip
            return Response(200, self._page(req.params["v"], hits, len(hits)))

    def query_more(self, req: Request) -> Response:
        with self.lock:
            rest = self.cursors.pop(req.params["locator"], None)
            if rest is None:
                raise _sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            total = rest[0]["_total"] if rest else 0
            return Response(200, self._page(req.params["v"], [r["record"] for r in rest], total))

    def _page(self, version: str, hits: list[dict[str, Any]], total: int) -> dict[str, Any]:
        page, rest = hits[: self.query_page_size], hits[self.query_page_size :]
        out: dict[str, Any] = {"totalSize": total, "done": not rest, "records": page}
        if rest:
            locator = f"01g{uuid.uuid4().hex[:15]}-{total - len(rest)}"
            self.cursors[locator] = [{"_total": total, "record": r} for r in rest]
            out["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}"
        return out
