"""Standard Webhooks sandbox receiver: a real HTTP server on 127.0.0.1 (stdlib ThreadingHTTPServer).

- ``POST /{object}``: verifies the signature (401 on a bad one), applies queued faults, then applies each
  record (upsert/update/insert/delete) and answers ``{"results": [{"key", "status", "message"}]}`` listing
  the rows it refused (accepted rows are not listed). A signed ``outflow.ping`` with no records (``outflow
  sync test``) is answered 200 and applies nothing. A body over ``max_body_bytes`` gets 413.
  Insert records are de-duplicated by ``idempotency_key`` (a resend never makes a second message).
- ``GET /_sandbox/objects/{object}``: the records the destination holds, by key.
- ``GET /_sandbox/messages/{object}``: the insert-mode messages (one per idempotency key).
- ``GET /_sandbox/stats``: request counters (accepted, refused by rate limit, bad signatures, duplicates...).
- ``POST /_sandbox/faults``: queue a fault (JSON, see ``WebhookSandbox.inject``); ``POST /_sandbox/reset``.

Run standalone: ``python -m activations.sandboxes.webhook --port 8790``
(secret from env OUTFLOW_SANDBOX_SECRET).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from activations.sandboxes.base import FaultQueue, TokenBucket
from activations.webhook_signature import PING, verify

log = logging.getLogger(__name__)

_Bucket = TokenBucket  # shared with the vendor sandboxes


class SandboxState:
    def __init__(
        self,
        secret: str,
        rate_limit: tuple[float, float] | None = None,
        *,
        allow_unsigned: bool = False,
        discard: bool = False,
        max_body_bytes: int | None = None,
    ) -> None:
        self.secret = secret
        # max_body_bytes: a receiver's limit on one request body; larger ones get 413 (counted as too_large).
        self.max_body_bytes = max_body_bytes
        # allow_unsigned: accept requests carrying NO webhook-* headers (for clients that cannot sign, e.g. a
        # generic REST tool in the benchmark); a request with a bad signature is still refused.
        self.allow_unsigned = allow_unsigned
        # discard: count applied records but keep no field values (benchmarks at millions of rows).
        self.discard = discard
        self.lock = threading.Lock()
        self.bucket = _Bucket(*rate_limit) if rate_limit else None
        self.delay = 0.0  # seconds added to every accepted batch (a slow destination)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
            self.messages: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
            self.faults = FaultQueue()
            self.stats: dict[str, int] = defaultdict(int)
            self.received_ids: list[str] = []

    @property
    def reject_keys(self) -> dict[str, str]:
        return self.faults.reject_keys

    @property
    def partial_keys(self) -> dict[str, str]:
        return self.faults.partial_keys

    def next_fault(self) -> dict[str, Any] | None:
        return self.faults.next()

    def add_fault(self, fault: dict[str, Any]) -> None:
        self.faults.add(fault)

    def apply(self, obj: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results = []
        with self.lock:
            store, msgs = self.objects[obj], self.messages[obj]
            for r in records:
                key, op = str(r.get("key")), r.get("op")
                if key in self.partial_keys:
                    results.append({"key": key, "status": "error", "message": self.partial_keys[key]})
                    self.stats["rows_refused"] += 1
                    continue
                if op == "upsert":
                    store[key] = {} if self.discard else r.get("fields", {})
                elif op == "update":
                    if key not in store:
                        results.append({"key": key, "status": "error", "message": "record not found"})
                        self.stats["rows_refused"] += 1
                        continue
                    store[key] = {**store[key], **r.get("fields", {})}
                elif op == "insert":
                    ik = r.get("idempotency_key") or key
                    if ik in msgs:
                        self.stats["duplicates_suppressed"] += 1
                    else:
                        msgs[ik] = {"key": key, **r.get("fields", {})}
                elif op == "delete":
                    store.pop(key, None)
                elif op == "erase":  # an erasure event: the receiver forgets the key and its messages
                    store.pop(key, None)
                    for ik in [ik for ik, m in msgs.items() if m.get("key") == key]:
                        del msgs[ik]
                    self.stats["rows_erased"] += 1
                else:
                    results.append({"key": key, "status": "error", "message": f"unknown op {op!r}"})
                    continue
                self.stats["rows_applied"] += 1  # accepted rows are not listed: the answer names failures only
        return results


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("sandbox: " + format, *args)

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = orjson.dumps(body)
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self) -> None:  # noqa: N802
        st = self.server.state
        parts = self.path.strip("/").split("/")
        with st.lock:
            if parts[:2] == ["_sandbox", "objects"] and len(parts) == 3:
                return self._send(200, st.objects.get(parts[2], {}))
            if parts[:2] == ["_sandbox", "messages"] and len(parts) == 3:
                return self._send(200, list(st.messages.get(parts[2], {}).values()))
            if parts == ["_sandbox", "stats"]:
                return self._send(200, dict(st.stats))
        self._send(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        st = self.server.state
        body = self._body()
        path = self.path.strip("/")
        if path == "_sandbox/faults":
            try:
                st.add_fault(json.loads(body))
            except (ValueError, TypeError) as exc:
                return self._send(400, {"error": str(exc)})
            return self._send(200, {"ok": True})
        if path == "_sandbox/reset":
            st.reset()
            return self._send(200, {"ok": True})
        with st.lock:
            st.stats["requests"] += 1
        if st.max_body_bytes is not None and len(body) > st.max_body_bytes:
            with st.lock:
                st.stats["too_large"] += 1
            return self._send(413, {"error": f"request body over {st.max_body_bytes} bytes"})
        if st.bucket is not None:
            wait = st.bucket.take()
            if wait > 0:
                with st.lock:
                    st.stats["rate_limited"] += 1
                return self._send(429, {"error": "rate limit exceeded"}, {"retry-after": f"{wait:.3f}"})
        headers = {k.lower(): v for k, v in self.headers.items()}
        unsigned = not any(h in headers for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if unsigned and st.allow_unsigned:
            with st.lock:
                st.stats["unsigned_accepted"] += 1
        elif not verify(st.secret, headers, body):
            with st.lock:
                st.stats["bad_signature"] += 1
            return self._send(401, {"error": "invalid webhook signature"})
        fault = st.next_fault()
        if fault:
            with st.lock:
                st.stats[f"fault_{fault['kind']}"] += 1
            if fault["kind"] == "status":
                code = int(fault.get("code", 500))
                extra = {"retry-after": str(fault["retry_after"])} if "retry_after" in fault else {}
                return self._send(code, {"error": fault.get("message", f"injected {code}")}, extra)
            if fault["kind"] == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault["kind"] == "slow":
                time.sleep(float(fault.get("seconds", 1.0)))
        if self.server.state.delay:
            time.sleep(self.server.state.delay)
        try:
            payload = orjson.loads(body)
            records = payload["data"]["records"]
            obj = path
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
            return self._send(400, {"error": "body is not a sync batch"})
        if payload.get("type") == PING and not records:  # `outflow sync test`: the signature was the check
            with st.lock:
                st.stats["pings"] += 1
            return self._send(200, {"results": []})
        with st.lock:
            bad = [str(r.get("key")) for r in records if str(r.get("key")) in st.reject_keys]
            msg = st.reject_keys.get(bad[0]) if bad else None
        if bad:
            with st.lock:
                st.stats["batches_refused"] += 1
            return self._send(422, {"error": msg})
        with st.lock:
            st.received_ids.append(headers.get("webhook-id", ""))
            st.stats["batches_accepted"] += 1
            now_ms = int(time.time() * 1000)
            st.stats.setdefault("first_accepted_ms", now_ms)
            st.stats["last_accepted_ms"] = now_ms
        self._send(200, {"results": st.apply(obj, records)})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    state: SandboxState

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or a dropped connection: expected under fault injection.
        log.debug("sandbox: connection from %s ended abruptly", client_address, exc_info=True)


class WebhookSandbox:
    """In-process handle: ``with WebhookSandbox(secret) as sb: sb.url ...``."""

    def __init__(
        self,
        secret: str,
        *,
        port: int = 0,
        rate_limit: tuple[float, float] | None = None,
        allow_unsigned: bool = False,
        discard: bool = False,
        max_body_bytes: int | None = None,
    ) -> None:
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.state = SandboxState(
            secret, rate_limit, allow_unsigned=allow_unsigned, discard=discard, max_body_bytes=max_body_bytes
        )
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> SandboxState:
        return self.server.state

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WebhookSandbox:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="webhook-sandbox")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def credentials(self, cfg: Any) -> dict[str, str]:
        return {cfg.destination.secret_env: self.state.secret}

    def inject(self, kind: str, **kw: Any) -> None:
        """Queue a fault. kinds: status(code, retry_after?, times), slow(seconds, times), drop(times),
        partial(keys, message) — per-row errors in a 200; reject_keys(keys, message) — 422 for any batch
        holding one of these keys (forces the client to split)."""
        self.state.add_fault({"kind": kind, **kw})

    def records(self, obj: str) -> dict[str, dict[str, Any]]:
        with self.state.lock:
            return dict(self.state.objects.get(obj, {}))

    def messages(self, obj: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.messages.get(obj, {}).values())

    @property
    def stats(self) -> dict[str, int]:
        with self.state.lock:
            return dict(self.state.stats)


def main() -> None:
    p = argparse.ArgumentParser(description="Standard Webhooks sandbox receiver on 127.0.0.1")
    p.add_argument("--port", type=int, default=8790)
    p.add_argument("--secret-env", default="OUTFLOW_SANDBOX_SECRET")
    p.add_argument("--rate", type=float, default=None, help="requests per second allowed")
    p.add_argument("--allow-unsigned", action="store_true", help="accept requests with no webhook-* headers")
    p.add_argument("--discard", action="store_true", help="keep counts only, not field values")
    p.add_argument("--max-body-bytes", type=int, default=None, help="answer 413 to larger request bodies")
    a = p.parse_args()
    secret = os.environ.get(a.secret_env)
    if not secret:
        raise SystemExit(f"environment variable {a.secret_env} is not set")
    sb = WebhookSandbox(
        secret,
        port=a.port,
        rate_limit=(a.rate, 1.0) if a.rate else None,
        allow_unsigned=a.allow_unsigned,
        discard=a.discard,
        max_body_bytes=a.max_body_bytes,
    )
    logging.basicConfig(level=logging.INFO)
    log.info("webhook sandbox listening on %s", sb.url)
    try:
        sb.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
