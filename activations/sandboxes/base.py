"""Shared machinery of the vendor sandboxes: a real HTTP server on 127.0.0.1, rate limits, fault injection,
recording of what was received, and JSON responses. A vendor sandbox subclasses ``VendorSandbox``, declares
its routes and its auth check, and keeps its own store of records.

Control endpoints (every sandbox):
- ``POST /_sandbox/faults`` queue a fault (JSON, see ``VendorSandbox.inject``); ``POST /_sandbox/reset``;
- ``GET /_sandbox/stats`` request counters; ``GET /_sandbox/requests`` the recorded requests;
- ``GET /_sandbox/store`` the vendor's store (what the destination holds, vendor-specific shape).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson

log = logging.getLogger(__name__)

FAULT_KINDS = ("status", "slow", "drop", "partial", "reject_keys", "no_results", "slow_answer")


class TokenBucket:
    """Token bucket: ``requests`` per ``per_seconds``, burst = ``requests``. ``clock`` is the time source (a test
    may stop it to check a burst without depending on how fast the machine sends)."""

    clock = staticmethod(time.monotonic)

    def __init__(self, requests: float, per_seconds: float) -> None:
        self.capacity = requests
        self.rate = requests / per_seconds
        self.tokens = requests
        self.t = self.clock()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if allowed, else seconds until a token is available."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
            self.t = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class FaultQueue:
    """Queued faults (status/slow/drop, each ``times`` times) and per-identifier refusals.

    ``partial`` keys: the vendor answers its own partial-failure shape for these identifiers;
    ``reject_keys``: any request holding one of them is refused whole (a 4xx), so the client
    must isolate it.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[dict[str, Any]] = []
        self.partial_keys: dict[str, str] = {}
        self.reject_keys: dict[str, str] = {}

    def add(self, fault: dict[str, Any]) -> None:
        kind = fault.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        with self.lock:
            if kind == "reject_keys":
                for k in fault.get("keys", []):
                    self.reject_keys[str(k)] = fault.get("message", f"invalid record {k}")
            elif kind == "partial":
                for k in fault.get("keys", []):
                    self.partial_keys[str(k)] = fault.get("message", f"field error on {k}")
            else:
                self.queue.append({"times": int(fault.get("times", 1)), **fault})

    def next(self) -> dict[str, Any] | None:
        with self.lock:
            for f in self.queue:
                if f["times"] > 0:
                    f["times"] -= 1
                    return dict(f)
            return None


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def q(self, name: str) -> str | None:
        v = self.query.get(name)
        return v[0] if v else None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class SandboxError(Exception):
    """Raised by a route handler to answer a vendor-shaped error."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(body))
        self.response = Response(status, body, headers or {})


Route = tuple[str, str, Callable[[Request], Response]]


class VendorSandbox:
    """Base of every vendor sandbox: ``with SomeSandbox(token=...) as sb: sb.url``.

    Subclasses set ``name``, implement ``routes()`` (method, path regex with named groups, handler),
    ``authorized(req)``, ``auth_error()``, ``rate_limited()`` (the vendor's 429 body), ``reset_store()``
    and ``store()``.
    """

    name: ClassVar[str] = "sandbox"
    default_rate_limit: ClassVar[tuple[float, float] | None] = None
    max_recorded: ClassVar[int] = 10_000

    def __init__(
        self,
        *,
        token: str = "sandbox-token",
        port: int = 0,
        rate_limit: tuple[float, float] | None = None,
        real_rate_limit: bool = False,
    ) -> None:
        """``rate_limit`` (requests, per_seconds), or ``real_rate_limit=True`` for the vendor's own."""
        self.token = token
        limit = rate_limit or (self.default_rate_limit if real_rate_limit else None)
        self.bucket = TokenBucket(*limit) if limit else None
        self.real_rate_limit = real_rate_limit and rate_limit is None  # the vendor's own limits, not a test's
        self.lock = threading.RLock()
        self.faults = FaultQueue()
        self.stats: dict[str, int] = defaultdict(int)
        self.requests: list[dict[str, Any]] = []
        self._routes = [(m, re.compile(f"^{p}$"), h) for m, p, h in self.routes()]
        self.reset_store()
        handler = type(f"{type(self).__name__}Handler", (_Handler,), {"sandbox": self})
        self.server = _Server(("127.0.0.1", port), handler)
        self._thread: threading.Thread | None = None

    # --- vendor hooks -------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        raise NotImplementedError

    def authorized(self, req: Request) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.token}"

    def auth_error(self) -> Response:
        return Response(401, {"error": "unauthorized"})

    def rate_limited(self, wait: float) -> Response:
        return Response(429, {"error": "rate limit exceeded"}, {"retry-after": f"{wait:.3f}"})

    def fault_response(self, code: int, message: str | None) -> Any:
        return {"error": message or f"injected {code}"}

    def buckets(self, req: Request) -> list[TokenBucket]:
        """The token buckets this request draws from. Default: the one sandbox-wide bucket. Vendors whose
        published limits are per endpoint override this (used when ``self.real_rate_limit``)."""
        return [self.bucket] if self.bucket is not None else []

    def recorded_body(self, req: Request) -> Any:
        """How a request's body is recorded (``GET /_sandbox/requests``): JSON decoded, else text."""
        try:
            return req.json()
        except orjson.JSONDecodeError:
            return req.body.decode(errors="replace")

    def throttle_headers(self, wait: float) -> dict[str, str]:
        """The headers this vendor sends with a throttled answer (an injected 429 with ``retry_after`` too).
        Default: ``Retry-After``; vendors that signal otherwise override it."""
        return {"retry-after": f"{max(wait, 0.001):.3f}"}

    def reset_store(self) -> None:
        """Clear the vendor's records."""

    def store(self) -> Any:
        """What the destination holds (JSON-able), for tests and ``GET /_sandbox/store``."""
        return {}

    def credentials(self, cfg: Any) -> dict[str, str]:
        """The environment a sync needs to talk to this sandbox: its secret env var (and any other)."""
        return {cfg.destination.secret_env: self.token}

    # --- handle -----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> VendorSandbox:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name=f"{self.name}-sb")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> VendorSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, kind: str, **kw: Any) -> None:
        """Queue a fault. kinds: status(code, retry_after?, message?, times), slow(seconds, times),
        drop(times), no_results(code=200, message?, times) — a 2xx answer without the vendor's per-row results
        (nothing applied), partial(keys, message) — vendor-shaped per-row errors for these identifiers,
        reject_keys(keys, message) — the whole request refused (4xx) while it holds one of them,
        slow_answer(seconds, times) — the request is applied, its answer held back."""
        self.faults.add({"kind": kind, **kw})

    def _fault_throttle_headers(self, value: Any) -> dict[str, str]:
        try:
            wait = float(value)
        except (TypeError, ValueError):
            return {"retry-after": str(value)}  # a malformed value, sent as given (tests of the client's parsing)
        if type(self).throttle_headers is VendorSandbox.throttle_headers:
            return {"retry-after": str(value)}
        return self.throttle_headers(wait)

    def reset(self) -> None:
        with self.lock:
            self.faults = FaultQueue()
            self.stats.clear()
            self.requests.clear()
            self.reset_store()

    def count(self, stat: str, n: int = 1) -> None:
        with self.lock:
            self.stats[stat] += n

    def recorded(self, method: str | None = None, path_prefix: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r["method"] == method) and r["path"].startswith(path_prefix)
            ]

    def _control(self, req: Request) -> Response | None:
        parts = req.path.strip("/").split("/")
        if parts[0] != "_sandbox":
            return None
        if req.method == "POST" and parts[1:] == ["faults"]:
            try:
                self.faults.add(json.loads(req.body))
            except (ValueError, TypeError) as exc:
                return Response(400, {"error": str(exc)})
            return Response(200, {"ok": True})
        if req.method == "POST" and parts[1:] == ["reset"]:
            self.reset()
            return Response(200, {"ok": True})
        if req.method == "GET" and parts[1:] == ["stats"]:
            with self.lock:
                return Response(200, dict(self.stats))
        if req.method == "GET" and parts[1:] == ["requests"]:
            with self.lock:
                return Response(200, list(self.requests))
        if req.method == "GET" and parts[1:] == ["store"]:
            with self.lock:
                return Response(200, self.store())
        return Response(404, {"error": "unknown sandbox control path"})

    def handle(self, req: Request, conn: socket.socket) -> Response | None:
        ctl = self._control(req)
        if ctl is not None:
            return ctl
        self.count("requests")
        for bucket in self.buckets(req):
            wait = bucket.take()
            if wait > 0:
                self.count("rate_limited")
                return self.rate_limited(wait)
        if not self.authorized(req):
            self.count("auth_failed")
            return self.auth_error()
        fault = self.faults.next()
        if fault:
            self.count(f"fault_{fault['kind']}")
            if fault["kind"] == "status":
                code = int(fault.get("code", 500))
                extra = self._fault_throttle_headers(fault["retry_after"]) if "retry_after" in fault else {}
                return Response(code, self.fault_response(code, fault.get("message")), extra)
            if fault["kind"] == "no_results":  # e.g. a maintenance page answered 200: nothing applied
                body = {"message": fault.get("message") or "Service temporarily under maintenance"}
                return Response(int(fault.get("code", 200)), body)
            if fault["kind"] == "drop":
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return None
            if fault["kind"] == "slow":
                time.sleep(float(fault.get("seconds", 1.0)))
        slow_answer = float(fault.get("seconds", 1.0)) if fault and fault["kind"] == "slow_answer" else 0.0
        for method, rx, fn in self._routes:
            m = rx.match(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                with self.lock:
                    if len(self.requests) < self.max_recorded:
                        body = self.recorded_body(req)
                        self.requests.append({"method": req.method, "path": req.path, "query": req.query, "body": body})
                try:
                    return fn(req)
                except SandboxError as exc:
                    self.count("refused")
                    return exc.response
                except orjson.JSONDecodeError:
                    self.count("refused")
                    return Response(400, {"error": "body is not JSON"})
                finally:
                    if slow_answer:  # applied, but the answer comes late (a lost acknowledgement, if killed)
                        time.sleep(slow_answer)
        self.count("not_found")
        return Response(404, {"error": f"no route {req.method} {req.path}"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sandbox: ClassVar[VendorSandbox]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("sandbox: " + format, *args)

    def _do(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = urlsplit(self.path)
        req = Request(
            self.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        resp = self.sandbox.handle(req, self.connection)
        if resp is None:  # dropped connection
            self.close_connection = True
            return
        # a bytes body is sent as is (files, e.g. an errors CSV), anything else as JSON
        data = resp.body if isinstance(resp.body, bytes) else b"" if resp.body is None else orjson.dumps(resp.body)
        self.send_response(resp.status)
        self.send_header("content-type", resp.headers.get("content-type", "application/json"))
        self.send_header("content-length", str(len(data)))
        for k, v in resp.headers.items():
            if k.lower() != "content-type":
                self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _do  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("sandbox: connection from %s ended abruptly", client_address, exc_info=True)
