"""The destination interface: batch limits, request building, response parsing.

A destination knows its vendor's contract and nothing about retries, rate limits, state or the warehouse;
the delivery layer (``activations.delivery``) handles those the same way for every destination.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import httpx

from activations.config import SyncConfig

log = logging.getLogger(__name__)

RefusalScope = Literal["rows", "request"]
_REQUEST_STATUSES = frozenset({402, 405, 410})
"""Refusals about the request or the account by default: payment required, method not allowed, gone (a retired
version). Splitting the batch cannot help with any of them. A 404 may name a row (an update of an unknown
record) or the request (a missing list): vendors tell which in ``refusal_scope``."""


def utc_now() -> dt.datetime:
    """The wall clock, in UTC (aware): the default ``clock`` of a destination and of a run."""
    return dt.datetime.now(dt.UTC)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` value: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class Record:
    """One row to deliver. ``op`` is the destination operation: upsert, update, insert or delete."""

    key: str
    op: str
    fields: dict[str, Any]
    idempotency_key: str
    sent: tuple[Any, ...] = ()
    """For a removal or an erasure: the identifier sets recorded when the row was sent
    (``Destination.sent_identifiers``), so that it carries exactly what the add carried."""


@dataclass(frozen=True)
class RowResult:
    key: str
    ok: bool
    message: str | None = None
    deferred: bool = False
    """Held back, not refused: the destination chose not to send the row now for a reason of its own (the
    recipient's quiet hours) and the next run offers it again. ``ok`` is False and ``message`` says why; the
    engine neither marks it synced nor counts it as a failure (until ``thresholds.max_deferral_hours``)."""


def deferral(key: str, reason: str) -> RowResult:
    """A row the destination holds back for the next run (``RowResult.deferred``), with the reason."""
    return RowResult(key, False, reason, deferred=True)


@dataclass(slots=True)
class Batch:
    """One batch as the engine reads it from the warehouse, column by column: the fast path.

    ``values[i]`` holds row i's mapped values in ``names`` order (destination field names); a removal's is
    empty (it carries no fields). Destinations that encode a batch straight from these columns
    (``build_batch_request``) skip building a ``Record`` per row; every other destination gets ``records()``.
    """

    names: list[str]
    keys: list[str]
    ops: list[str]
    idempotency_keys: list[str]
    values: list[tuple[Any, ...]]
    sent: dict[str, list[Any]] | None = None
    """Removals only: key -> the identifier sets that were sent for it (``Record.sent``)."""

    def __len__(self) -> int:
        return len(self.keys)

    def records(self) -> list[Record]:
        names, sent = self.names, self.sent or {}
        return [
            Record(k, op, dict(zip(names, vals, strict=True)) if vals else {}, ik, tuple(sent.get(k, ())))
            for k, op, ik, vals in zip(self.keys, self.ops, self.idempotency_keys, self.values, strict=True)
        ]


class Unconfirmed(ValueError):
    """A 2xx answer that does not confirm the rows it was for (no per-row results where the vendor's contract
    has them, wrong counts, an unexpected shape such as a maintenance message): every row of the request is
    rejected as unconfirmed and sent again next run."""


def answer_of(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; ``Unconfirmed`` if it is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise Unconfirmed(f"HTTP {response.status_code} answer is not JSON") from None


def require_dict(body: Any, *keys: str) -> dict[str, Any]:
    """``body`` as a JSON object holding every key in ``keys``; ``Unconfirmed`` otherwise."""
    if not isinstance(body, dict):
        raise Unconfirmed("answer is not a JSON object")
    missing = [k for k in keys if k not in body]
    if missing:
        raise Unconfirmed(f"answer has no {', '.join(missing)}")
    return body


UNCONFIRMED_ROW = "unconfirmed: the destination's answer does not name this row; sent again next run"

Rejections = dict[str, str]
"""Rows a destination refused: key -> the destination's message. A key not in it was acknowledged (or deferred)."""


def rejections(results: list[RowResult]) -> Rejections:
    return {r.key: r.message or "rejected" for r in results if not r.ok and not r.deferred}


def deferrals(results: list[RowResult]) -> dict[str, str]:
    """Rows a destination held back for the next run: key -> why."""
    return {r.key: r.message or "deferred" for r in results if r.deferred}


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


Call = Callable[[PreparedRequest], Awaitable[httpx.Response]]
"""Send one request through the deliverer (shared limiter, retries on 429/5xx/timeouts, AuthFailed on
401/403) and return the response; any other status is returned for the destination to judge."""


def idempotency_key(sync_name: str, key: str, version: str | None = None) -> str:
    """Stable per (sync, key[, version]): a resend of the same record carries the same key."""
    raw = f"{sync_name}\x1f{key}" + (f"\x1f{version}" if version is not None else "")
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def nest(fields: dict[str, Any], *, skip_none: bool = True) -> dict[str, Any]:
    """``{"location.city": "x", "email": "y"}`` -> ``{"location": {"city": "x"}, "email": "y"}``."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if v is None and skip_none:
            continue
        cur = out
        *parents, leaf = k.split(".")
        for p in parents:
            cur = cur.setdefault(p, {})
        cur[leaf] = v
    return out


class Destination(ABC):
    """Subclass per vendor. Register it in ``activations.destinations.DESTINATIONS``."""

    type: ClassVar[str]
    max_batch_size: ClassVar[int] = 1000
    max_batch_bytes: ClassVar[int | None] = None
    """The vendor's limit on one request body; the deliverer splits a batch before sending it, never above
    this (a sync may lower it with ``destination.options.max_batch_bytes``)."""
    hashed_fields: ClassVar[frozenset[str] | None] = None
    """Destination fields this destination normalizes and SHA-256 hashes itself, letting a value that already
    is a digest (64 hex characters) through unchanged: an email column mapped to one of them may hold a
    digest instead of an address. ``None``: the platform's rules in ``activations.hashing.HASHED_FIELDS``."""
    deletes_apart: ClassVar[bool] = False
    """True: ``group`` sends a batch's deletes apart from its upserts (the vendor takes them elsewhere)."""

    erasure: ClassVar[str] = "erasure event"
    """What erasure means at this destination (``erase``): ``delete contact`` (the vendor's delete or
    GDPR-delete endpoint), ``remove from audience`` (by every identifier that was sent), ``erasure event``
    (the receiver deletes), or ``delete user`` (trigger vendors' user deletion)."""
    erasure_batch_size: ClassVar[int] = 100
    records_sent_identifiers: ClassVar[bool] = False
    """True: the engine records ``sent_identifiers`` of every acknowledged row, and removals and erasures of
    that row carry them (``Record.sent``)."""
    can_list_members: ClassVar[bool] = False
    """True: ``list_members`` reads what the destination holds (reconciliation)."""

    batch_bytes_limit: int | None
    """Set at construction: the most bytes one request body may hold (see ``max_batch_bytes``)."""

    def __init__(self, cfg: SyncConfig, secret: str, *, check_secret: bool = True) -> None:
        """``check_secret=False``: a destination for a dry run without credentials (it never sends)."""
        self.cfg = cfg
        self._secret = secret
        self.clock: Callable[[], dt.datetime] = utc_now
        """What time it is for the destination's own rules (quiet hours); the engine passes its ``clock``."""
        if check_secret:
            self.check_secret()
        self.check_config()
        self.check_version()
        self.batch_bytes_limit = self._bytes_limit()

    def __repr__(self) -> str:  # never show the secret
        return f"{type(self).__name__}(sync={self.cfg.name!r}, base_url={self.cfg.destination.base_url!r})"

    @property
    def batch_size(self) -> int:
        return min(self.cfg.batch_size or self.max_batch_size, self.max_batch_size)

    def _bytes_limit(self) -> int | None:
        """``batch_bytes_limit``: the most bytes one request body may hold, the vendor's limit or the sync's
        lower one (``destination.options.max_batch_bytes``); checked once, before any data is read."""
        from outflow.errors import OutflowError

        opt = self.cfg.destination.options.get("max_batch_bytes")
        if opt is None:
            return self.max_batch_bytes
        if isinstance(opt, bool) or not isinstance(opt, int) or opt <= 0:
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: destination.options.max_batch_bytes: must be a positive "
                "number of bytes"
            )
        return opt if self.max_batch_bytes is None else min(opt, self.max_batch_bytes)

    def request_bytes(self, records: list[Record]) -> int:
        """Encoded size of the request for these records (checked against ``batch_bytes_limit``).
        Default: the body ``build_request`` makes; vendors whose ``exchange`` sends something else may
        override it."""
        return len(self.build_request(records).content)

    def accepts_digest(self, dest_field: str) -> bool:
        """Whether a SHA-256 digest is a valid value for ``dest_field`` (the destination hashes it anyway)."""
        if self.hashed_fields is not None:
            return dest_field in self.hashed_fields
        from activations.hashing import HASHED_FIELDS

        return dest_field in HASHED_FIELDS.get(self.type, ())

    def check_request(self) -> PreparedRequest | None:
        """A cheap authenticated read the vendor documents, which proves the credentials without sending data
        (``outflow sync test``); None: the vendor offers none for these credentials."""
        return None

    def check_secret(self) -> None:  # noqa: B027 - optional hook
        """Raise OutflowError if the secret has the wrong shape (without showing it)."""

    def check_config(self) -> None:  # noqa: B027 - optional hook
        """Raise OutflowError naming the file and key if the sync does not fit this destination."""

    @property
    def api_version(self) -> str | None:
        """The vendor API version this sync speaks (``activations.destinations.versions``): the sync's
        ``destination.options.<option>`` or the table's default; None for destinations without a version."""
        from activations.destinations.versions import VERSIONS

        table = VERSIONS.get(self.type)
        if table is None:
            return None
        if table.option is None:
            return table.default
        return str(self.cfg.destination.options.get(table.option, table.default))

    def version_problem(self) -> tuple[str, str] | None:
        """``("error"|"warning", message naming the file and key)`` when the version is retired or near its
        sunset (``WARN_DAYS``), else None."""
        from activations.destinations.versions import version_problem

        version = self.api_version
        found = None if version is None else version_problem(self.type, version)
        if found is None:
            return None
        level, why = found
        return level, f"{self.cfg.path or self.cfg.name}: {self.version_key()}: {why}"

    def version_key(self) -> str:
        """The sync key that sets the version (for messages)."""
        from activations.destinations.versions import VERSIONS

        option = VERSIONS[self.type].option
        return f"destination.options.{option}" if option else "destination.base_url"

    def check_version(self) -> None:
        """A retired version stops the sync before any request (the vendor would refuse every one); a version
        near its sunset is logged as a warning."""
        from outflow.errors import OutflowError

        problem = self.version_problem()
        if problem is None:
            return
        if problem[0] == "error":
            raise OutflowError(problem[1])
        log.warning("%s", problem[1])

    # --- how the vendor refuses and throttles ------------------------------------------------------------------
    def refusal_scope(self, response: httpx.Response) -> RefusalScope:
        """What a refused (4xx, not auth) answer is about: ``"rows"`` (the deliverer splits the batch to
        isolate them) or ``"request"`` (the request or the account: a missing list, a permission, a quota, a
        retired version; the sync stops after this one request with the vendor's message). Default: 402, 405
        and 410 are about the request, anything else about rows."""
        return "request" if response.status_code in _REQUEST_STATUSES else "rows"

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying a throttled or transient answer, from the vendor's own signals;
        None when the answer carries none (the deliverer then backs off exponentially). Default:
        ``Retry-After`` (seconds or an HTTP date)."""
        return parse_retry_after(response.headers.get("retry-after"))

    def quota_delay(self, response: httpx.Response) -> float | None:
        """Seconds to pause before the next request because the vendor reports its quota (nearly) spent on an
        accepted answer: slowing down before being refused. None (the default): no pause."""
        return None

    def option(self, name: str, default: Any = None, *, required: bool = False) -> Any:
        """``destination.options.<name>`` from the sync YAML; a clear error if required and missing."""
        from outflow.errors import OutflowError

        value = self.cfg.destination.options.get(name, default)
        if required and value in (None, ""):
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: destination.options.{name}: required by destination "
                f"type {self.type}"
            )
        return value

    def require_key_mapped_to(self, *dest_fields: str) -> str:
        """The vendor identifies a record by one of ``dest_fields``; removals carry only the key, so the
        sync's primary key column must be mapped to that field. Returns the field it is mapped to."""
        from outflow.errors import OutflowError

        mapped = self.cfg.fields.get(self.cfg.primary_key)
        if mapped not in dest_fields:
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: fields.{self.cfg.primary_key}: destination type "
                f"{self.type} identifies records by {' or '.join(dest_fields)}; map the primary key column "
                f"{self.cfg.primary_key!r} to it (e.g. fields: {{{self.cfg.primary_key}: {dest_fields[0]}}})"
            )
        return mapped

    def group(self, records: list[Record]) -> list[list[Record]]:
        """Split a batch into sub-batches each sent by one ``exchange`` (e.g. upserts apart from
        deletes, which many vendors take on another endpoint). Default: the batch as it is, or upserts
        then deletes when ``deletes_apart`` is set."""
        if not self.deletes_apart:
            return [records]
        ups = [r for r in records if r.op != "delete"]
        dels = [r for r in records if r.op == "delete"]
        return [g for g in (ups, dels) if g]

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        """Deliver one sub-batch. Default: one request from ``build_request``. Vendors needing several
        calls (id look-ups, async jobs, list membership after an upsert) override this; returning a
        non-2xx response lets the deliverer split the batch, returning RowResults settles each row."""
        resp = await call(self.build_request(records))
        if not 400 <= resp.status_code < 500:
            return resp
        return await self.resend_without_bad_rows(call, records, resp)

    def row_errors(self, response: httpx.Response, n: int) -> dict[int, str]:
        """For a refused call that names its bad rows (by position): {index: message}. Default: none."""
        return {}

    async def resend_without_bad_rows(
        self, call: Call, records: list[Record], resp: httpx.Response
    ) -> httpx.Response | list[RowResult]:
        """Vendors that refuse a whole call but name the bad rows: reject those, send the rest again."""
        bad = self.row_errors(resp, len(records))
        if not bad:
            return resp  # not attributable to rows: the deliverer splits the batch
        out = {records[i].key: RowResult(records[i].key, False, msg) for i, msg in bad.items()}
        rest = [r for i, r in enumerate(records) if i not in bad]
        if rest:
            again = await self.exchange(call, rest)
            if isinstance(again, httpx.Response):
                if not 200 <= again.status_code < 300:
                    return again
                again = self.parse_response(again, rest)
            out.update({r.key: r for r in again})
        return [out[r.key] for r in records]

    # --- erasure, sent identifiers, reconciliation -------------------------------------------------------------
    def sent_identifiers(self, record: Record) -> list[Any]:
        """The identifier sets this destination sends for an added/changed row, as sent (hashed where the
        vendor takes hashes), JSON-able; recorded when ``records_sent_identifiers``. Default: none."""
        return []

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """Erase these records at the destination (op ``delete``; ``Record.sent`` holds what was sent,
        ``fields.person_id`` the person when known). Default: the destination's own removal, by every identifier
        that was sent (audiences)."""
        answer = await self.exchange(call, records)
        return self.settle(answer, records)

    def settle(self, answer: httpx.Response | list[RowResult], records: list[Record]) -> list[RowResult]:
        """Per-row outcomes of one erasure call: RowResults as they are, a 2xx parsed, anything else refused."""
        if isinstance(answer, list):
            return answer
        if 200 <= answer.status_code < 300:
            return self.parse_response(answer, records)
        msg = self.error_message(answer)
        return [RowResult(r.key, False, msg) for r in records]

    async def list_members(self, call: Call) -> set[str]:
        """The keys the destination holds for this sync (``can_list_members``), in the sync's key form."""
        raise NotImplementedError

    def member_key(self, key: str) -> str:
        """The form in which a key of the model and a member of the destination compare."""
        return key.strip().lower()

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

    def build_batch_request(self, batch: Batch) -> PreparedRequest | None:
        """Optional fast path: the one request delivering a whole batch, encoded straight from its columns
        (no ``Record`` per row). ``None`` (the default) sends the batch through ``group``/``exchange`` with
        Records. A destination implementing it must send exactly what ``build_request(batch.records())``
        would, and answer 2xx responses with ``batch_rejections``; a refused call falls back to the Records
        path (row errors, splitting)."""
        return None

    def batch_rejections(self, response: httpx.Response, batch: Batch) -> Rejections:
        """The rows a 2xx answer to ``build_batch_request`` refused. Default: from ``parse_response``."""
        return rejections(self.parse_response(response, batch.records()))

    def begin(self, counts: dict[str, int]) -> None:  # noqa: B027 - optional hook
        """Called once per run before the first batch with the diff counts (add/change/remove), for vendors
        whose uploads are sessions that must know their last batch (Meta)."""

    def is_auth_failure(self, response: httpx.Response) -> bool:
        """The vendor refused the credentials (default 401/403; some vendors answer 400 with a code)."""
        return response.status_code in (401, 403)

    def is_transient(self, response: httpx.Response) -> bool:
        """A vendor-specific retriable answer besides 429/5xx (e.g. Salesforce REQUEST_LIMIT_EXCEEDED)."""
        return False

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
