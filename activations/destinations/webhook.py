"""Signed webhook destination following the Standard Webhooks specification.

Request: ``POST {base_url}/{object}`` with a JSON body ``{"type", "timestamp", "data": {"sync", "object",
"records": [{"op", "key", "idempotency_key", "fields"}]}}`` and the headers ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``
keyed with the base64-decoded part of the ``whsec_`` secret).

Response: 2xx with optional ``{"results": [{"key", "status": "ok"|"error", "message"}]}`` for per-row
outcomes (partial failure); keys absent from ``results`` count as accepted (a receiver may list only its
failures).

Credentials check (``outflow sync test``): a signed ``outflow.ping`` message with no records. A receiver that
verifies signatures, as Standard Webhooks asks, answers 2xx to a good signature and 401 to a wrong secret.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import orjson

from activations.destinations.base import Batch, Call, Destination, PreparedRequest, Record, Rejections, RowResult
from activations.webhook_signature import PING, decode_secret, sign
from outflow.errors import OutflowError


class WebhookDestination(Destination):
    erasure = "erasure event"
    type = "webhook"
    max_batch_size = 1000

    def check_secret(self) -> None:
        try:
            decode_secret(self._secret)
        except ValueError as exc:
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: destination.secret_env: the value of "
                f"{self.cfg.destination.secret_env} is not a Standard Webhooks secret (whsec_ + base64)"
            ) from exc

    def check_request(self) -> PreparedRequest:
        """A signed ``outflow.ping`` message with no records: proves the secret to a verifying receiver."""
        return self._request([], [f"ping-{time.time_ns()}"], kind=PING)

    def build_request(self, records: list[Record]) -> PreparedRequest:
        items = [{"op": r.op, "key": r.key, "idempotency_key": r.idempotency_key, "fields": r.fields} for r in records]
        return self._request(items, [r.idempotency_key for r in records])

    def build_batch_request(self, batch: Batch) -> PreparedRequest:
        """The fast path: the same request as ``build_request``, encoded from the batch's columns."""
        names = batch.names
        items = [
            {"op": op, "key": k, "idempotency_key": ik, "fields": dict(zip(names, vals, strict=True)) if vals else {}}
            for k, op, ik, vals in zip(batch.keys, batch.ops, batch.idempotency_keys, batch.values, strict=True)
        ]
        return self._request(items, batch.idempotency_keys)

    def _request(
        self, items: list[dict[str, Any]], idempotency_keys: list[str], kind: str | None = None
    ) -> PreparedRequest:
        ts = int(time.time())
        payload: dict[str, Any] = {
            "type": kind or f"outflow.sync.{self.cfg.mode.value}",
            "timestamp": ts,
            "data": {"sync": self.cfg.name, "object": self.cfg.destination.object, "records": items},
        }
        body = orjson.dumps(payload, default=str)
        # Message id: stable for the same set of record versions, so a resent batch has the same id.
        digest = hashlib.sha256("|".join(idempotency_keys).encode()).hexdigest()
        msg_id = "msg_" + digest[:24]
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self._secret, msg_id, ts, body),
        }
        url = f"{self.cfg.destination.base_url}/{self.cfg.destination.object}"
        return PreparedRequest("POST", url, headers, body)

    def _failed(self, response: httpx.Response) -> Rejections:
        """Rows the answer lists with a status other than ``ok`` (key -> message)."""
        try:
            body = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            return {}
        results = body.get("results") if isinstance(body, dict) else None
        failed: Rejections = {}
        for item in results if isinstance(results, list) else ():
            if isinstance(item, dict) and item.get("status") not in (None, "ok"):
                failed[str(item.get("key"))] = str(item.get("message") or item.get("status"))
        return failed

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        failed = self._failed(response)
        return [RowResult(r.key, r.key not in failed, failed.get(r.key)) for r in records]

    def batch_rejections(self, response: httpx.Response, batch: Batch) -> Rejections:
        failed = self._failed(response)
        if not failed:
            return failed
        sent = set(batch.keys)
        return {k: m for k, m in failed.items() if k in sent}

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """An erasure event: a signed message of type ``outflow.erasure`` with one record per key (op ``erase``,
        ``fields.person_id`` when known); the receiver deletes what it holds for them."""
        items = [{"op": "erase", "key": r.key, "idempotency_key": r.idempotency_key, "fields": r.fields}
                 for r in records]  # fmt: skip
        req = self._request(items, [r.idempotency_key for r in records], kind="outflow.erasure")
        return self.settle(await call(req), records)
