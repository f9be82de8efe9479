"""The destination interface: batch limits, request building, response parsing.

A destination knows its vendor's contract and nothing about retries, rate limits, state or the warehouse;
the delivery layer (``activations.delivery``) handles those the same way for every destination.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from activations.config import SyncConfig


@dataclass(frozen=True)
class Record:
    """One row to deliver. ``op`` is the destination operation: upsert, update, insert or delete."""

    key: str
    op: str
    fields: dict[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class RowResult:
    key: str
    ok: bool
    message: str | None = None


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


def idempotency_key(sync_name: str, key: str, version: str | None = None) -> str:
    """Stable per (sync, key[, version]): a resend of the same record carries the same key."""
    raw = f"{sync_name}\x1f{key}" + (f"\x1f{version}" if version is not None else "")
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class Destination(ABC):
    """Subclass per vendor. Register it in ``activations.destinations.DESTINATIONS``."""

    type: ClassVar[str]
    max_batch_size: ClassVar[int] = 1000
    max_batch_bytes: ClassVar[int | None] = None

    def __init__(self, cfg: SyncConfig, secret: str) -> None:
        self.cfg = cfg
        self._secret = secret
        self.check_secret()

    def __repr__(self) -> str:  # never show the secret
        return f"{type(self).__name__}(sync={self.cfg.name!r}, base_url={self.cfg.destination.base_url!r})"

    @property
    def batch_size(self) -> int:
        return min(self.cfg.batch_size or self.max_batch_size, self.max_batch_size)

    def check_secret(self) -> None:  # noqa: B027 - optional hook
        """Raise OutflowError if the secret has the wrong shape (without showing it)."""

    def op_for(self, diff_op: str) -> str:
        """Map a diff operation (add/change/remove) to this destination's operation for the sync's mode."""
        mode = self.cfg.mode.value
        if diff_op == "remove":
            return "delete"
        if mode == "insert":
            return "insert"
        if mode == "update":
            return "update"
        return "upsert"

    @abstractmethod
    def build_request(self, records: list[Record]) -> PreparedRequest:
        """The HTTP request delivering these records."""

    @abstractmethod
    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        """Per-row outcome of a 2xx response (partial failures included)."""

    def error_message(self, response: httpx.Response) -> str:
        """The destination's own message for a failed (non-2xx) response."""
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()
            return f"HTTP {response.status_code}: {text[:300]}" if text else f"HTTP {response.status_code}"
        if isinstance(body, dict):
            for k in ("error", "message", "detail", "errors"):
                if k in body:
                    return f"HTTP {response.status_code}: {body[k]}"
        return f"HTTP {response.status_code}: {str(body)[:300]}"
