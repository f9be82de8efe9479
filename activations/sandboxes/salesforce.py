"""Salesforce sandbox: sObject Collections upsert by external id, per-record results.

Checks the published contract: ``allOrNone`` boolean, 1..200 ``records`` each with ``attributes.type`` equal
to the SObject in the path and the external id field set; unknown fields get ``INVALID_FIELD`` per record; an
exhausted request allowance is answered ``403 [{"errorCode": "REQUEST_LIMIT_EXCEEDED"}]`` as Salesforce does.
"""

from __future__ import annotations

from typing import Any

from activations.sandboxes.base import Request, Response, Route, SandboxError, VendorSandbox


class SalesforceSandbox(VendorSandbox):
    name = "salesforce"
    default_rate_limit = (25.0, 1.0)  # concurrency/allowance stand-in: 25 calls per second

    def __init__(self, *, fields: set[str] | None = None, **kw: Any) -> None:
        self.known_fields = fields  # None: any field accepted
        super().__init__(**kw)

    def routes(self) -> list[Route]:
        path = r"/services/data/v(?P<v>\d+\.\d+)/composite/sobjects/(?P<sobject>\w+)/(?P<ext>\w+)"
        return [("PATCH", path, self.upsert)]

    def auth_error(self) -> Response:
        return Response(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])

    def rate_limited(self, wait: float) -> Response:
        return Response(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])

    def fault_response(self, code: int, message: str | None) -> Any:
        return [{"message": message or f"injected {code}", "errorCode": "UNKNOWN_EXCEPTION"}]

    def reset_store(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}  # sobject -> ext id -> record

    def store(self) -> Any:
        return self.objects

    def records(self, sobject: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {k: dict(v) for k, v in self.objects.get(sobject, {}).items()}

    def upsert(self, req: Request) -> Response:
        body = req.json()
        sobject, ext = req.params["sobject"], req.params["ext"]
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SandboxError(400, [{"message": "records is required", "errorCode": "JSON_PARSER_ERROR"}])
        if not isinstance(body.get("allOrNone", False), bool):
            raise SandboxError(400, [{"message": "allOrNone must be boolean", "errorCode": "JSON_PARSER_ERROR"}])
        recs = body["records"]
        if not 1 <= len(recs) <= 200:
            raise SandboxError(400, [{"message": "EXCEEDED_ID_LIMIT: record limit is 200",
                                      "errorCode": "EXCEEDED_ID_LIMIT"}])  # fmt: skip
        results = []
        with self.lock:
            store = self.objects.setdefault(sobject, {})
            for rec in recs:
                if (rec.get("attributes") or {}).get("type") != sobject:
                    results.append(self._fail("INVALID_TYPE", f"attributes.type must be {sobject}", []))
                    continue
                key = rec.get(ext)
                if key in (None, ""):
                    results.append(self._fail("REQUIRED_FIELD_MISSING", f"{ext} is required", [ext]))
                    continue
                unknown = [f for f in rec if f != "attributes" and self.known_fields is not None
                           and f not in self.known_fields and f != ext]  # fmt: skip
                if unknown:
                    results.append(self._fail("INVALID_FIELD", f"No such column '{unknown[0]}' on {sobject}", unknown))
                    continue
                if str(key) in self.faults.partial_keys:
                    results.append(
                        self._fail("FIELD_CUSTOM_VALIDATION_EXCEPTION", self.faults.partial_keys[str(key)], [])
                    )
                    continue
                created = str(key) not in store
                cur = store.get(str(key), {"Id": f"003{len(store):015d}"})
                store[str(key)] = {**cur, **{k: v for k, v in rec.items() if k != "attributes"}}
                results.append({"id": cur["Id"], "success": True, "errors": [], "created": created})
            self.stats["rows_applied"] += sum(1 for r in results if r["success"])
        return Response(200, results)

    def _fail(self, code: str, message: str, fields: list[str]) -> dict[str, Any]:
        self.count("rows_refused")
        return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields}]}
