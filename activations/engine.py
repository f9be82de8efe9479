"""``run_sync``: the one entry point the CLI and Dagster share.

Order of a run: secret → warehouse → run log row → quality gate (``data_quality.gate.preflight``, always) →
consent/erasure filter (``data_quality.gate.send_filter``, always) → diff (one set-based query) → invalid rows set
aside → circuit breaker → (dry run stops here) → batches delivered, state committed after EACH acknowledged
batch (rows the destination defers, such as SMS in quiet hours, stay pending: ``activations.state.Deferrals``) →
run log row completed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cache
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx

from activations.config import Delivery, SyncConfig, mask, resolve_secret
from activations.delivery import (
    AccountLevelError,
    AuthFailed,
    Deliverer,
    DestinationUnavailable,
    RetryBudgetSpent,
    RunDeadline,
    shared_limiter,
)
from activations.destinations import DESTINATIONS
from activations.destinations.base import Batch, Destination, utc_now
from activations.diff import build_diff_sql, build_rehash_sql, build_source_columns_sql, mapped_alias
from activations.privacy import SentRecorder, ensure_privacy_schema, erased_key
from activations.state import (
    Deferrals,
    acquire_lock,
    forget_settled_deferrals,
    heartbeat_sql,
    locked_warehouse_message,
    mark_in_flight_sql,
    ns,
    purge_logs,
    qualified,
    rehash_legacy_state,
    release_lock,
    settle_in_flight,
    state_catalog,
    temp_text_table,
)
from data_quality.config import QualityConfig
from data_quality.gate import preflight, send_filter
from outflow.errors import OutflowError
from outflow.warehouse import Warehouse
from outflow.warehouse.state_store import sync_session

log = logging.getLogger(__name__)

_DIFF = "_outflow_diff"
_SOURCE = "_outflow_source"  # the model's rows that pass the consent/erasure filter (a temp view)
_PENDING = "_outflow_pending"


@dataclass
class SyncResult:
    run_id: str
    sync_name: str
    status: str = "running"  # success | partial | failed | refused | stopped (deadline) | dry_run
    dry_run: bool = False
    forced: bool = False
    added: int = 0
    changed: int = 0
    removed: int = 0
    invalid: int = 0
    blocked: int = 0  # rows held back by the consent/erasure filter (in sync_invalid_rows: no_consent, erased)
    to_send: int = 0
    unknown: int = 0  # at_most_once: rows whose acknowledgement was lost, recorded 'unknown', never resent
    acked: int = 0
    rejected: int = 0
    deferred: int = 0  # rows the destination held back for the next run (quiet hours): not sent, not failed
    deferred_reason: str | None = None  # why, for the first deferred row (e.g. "held: quiet hours in ...")
    held_before: int = 0
    resent: int = 0  # a full resync: unchanged rows the destination holds, sent again (counted in `changed`)
    duration_s: float = 0.0
    diff_s: float = 0.0
    deliver_s: float = 0.0
    error: str | None = None
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def completion_ratio(self) -> float:
        """The share of the rows to send that the destination accepted: rejected rows count against it; rows
        it deferred to the next run do not count (they are not due yet)."""
        due = self.to_send - self.deferred
        return 1.0 if due <= 0 else self.acked / due

    @property
    def outcome(self) -> str:
        """The run in one line for people: its status, the rows deferred (and why) and its error, e.g.
        ``success; 12 rows deferred (held: quiet hours in America/New_York; sent next run)``."""
        text = "dry run: nothing sent" if self.dry_run else self.status
        if self.deferred:
            text += f"; {self.deferred} rows deferred ({self.deferred_reason})"
        return f"{text}: {self.error}" if self.error else text

    @property
    def invalid_share(self) -> float:
        """The share of the model's rows set aside as invalid (bad key or email; not the consent filter's)."""
        rows = self.held_before + self.added - self.removed + self.invalid
        return 0.0 if rows <= 0 else self.invalid / rows

    @property
    def ok(self) -> bool:
        return self.status in ("success", "partial", "dry_run")

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "completion_ratio": self.completion_ratio,
            "invalid_share": self.invalid_share,
            "outcome": self.outcome,
        }


class SyncFailed(OutflowError):
    """A run that failed or was refused; ``result`` holds its counts."""

    def __init__(self, message: str, result: SyncResult) -> None:
        super().__init__(message)
        self.result = result


@cache
def _tls() -> Any:
    """httpx's default TLS context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), made once per process:
    loading the CA bundle costs about 20 ms of CPU, which each sync's client paid again."""
    return httpx.create_ssl_context()


def _connect(warehouse: Path | str | None, read_only: bool = False) -> Warehouse:
    """The warehouse the settings name, or ``warehouse``: a DuckDB file, or a ``postgresql://`` URL."""
    from outflow.warehouse import connect

    try:
        return connect(warehouse, read_only=read_only)
    except Exception as exc:  # DuckDB's file lock (another process has it open): one line naming the holder
        message = locked_warehouse_message(exc, warehouse)
        if message is None:
            raise
        raise OutflowError(message) from None


def make_destination(cfg: SyncConfig, *, dry_run: bool = False) -> Destination:
    """Resolve the secret (clear error if missing) and build the destination; reads no data. A dry run sends
    nothing, so it needs no secret: without one, the destination is built without credentials."""
    try:
        secret = resolve_secret(cfg)
    except OutflowError:
        if not dry_run:
            raise
        return DESTINATIONS[cfg.destination.type](cfg, "", check_secret=False)
    return DESTINATIONS[cfg.destination.type](cfg, secret)


def check_connection(cfg: SyncConfig) -> str:
    """Check that the destination answers and accepts the credentials, without sending data: the vendor's own
    cheap authenticated read (``Destination.check_request``). Returns one line saying what was checked; a
    refusal or an unreachable destination raises OutflowError (one line, the secret masked)."""
    dest = make_destination(cfg)
    d = cfg.destination
    req = dest.check_request()
    if d.type == "file":
        return f"sync {cfg.name}: file destination, no connection to check"
    url = req.url if req is not None else d.base_url
    where = url.split("?", 1)[0]
    try:
        with httpx.Client(timeout=d.timeout_seconds) as client:
            if req is None:
                resp = client.get(d.base_url)
            else:
                resp = client.request(req.method, req.url, headers=req.headers, content=req.content or None)
    except httpx.HTTPError as exc:
        why = mask(str(exc)) or type(exc).__name__
        raise OutflowError(f"sync {cfg.name}: cannot reach {d.type} at {where}: {why}") from None
    detail = mask(" ".join(resp.text.split())[:160])
    if req is None:
        return (
            f"sync {cfg.name}: {d.type} at {d.base_url} is reachable (HTTP {resp.status_code}); it has no endpoint "
            "to check credentials without sending, so the first run checks them"
        )
    if resp.status_code in (401, 403):
        raise OutflowError(
            f"sync {cfg.name}: {d.type} refused the credentials in {d.secret_env} (HTTP {resp.status_code} on "
            f"{req.method} {where}): {detail}"
        )
    if not resp.is_success:
        raise OutflowError(
            f"sync {cfg.name}: {d.type} answered HTTP {resp.status_code} on {req.method} {where}: {detail}"
        )
    answer = f"{req.method} {where}: HTTP {resp.status_code}"
    return f"sync {cfg.name}: {d.type} accepted the credentials in {d.secret_env} ({answer})"


def _check_source(con: Warehouse, cfg: SyncConfig) -> None:
    sql, needed = build_source_columns_sql(cfg)
    have = {r[0] for r in con.execute(sql).fetchall()}
    where = cfg.path or cfg.name
    if not have:
        raise OutflowError(f"{where}: source: model main.{cfg.source} does not exist in the warehouse")
    if cfg.primary_key not in have:
        raise OutflowError(f"{where}: primary_key: column {cfg.primary_key!r} is not in main.{cfg.source}")
    for col in needed[1:]:
        if col not in have:
            raise OutflowError(f"{where}: fields.{col}: column {col!r} is not in main.{cfg.source}")


def _start_run(con: Warehouse, cfg: SyncConfig, res: SyncResult) -> None:
    q = ns(con)
    con.execute(
        f"UPDATE {q}.sync_runs SET status = 'interrupted' WHERE sync_name = ? AND status = 'running'",
        [cfg.name],
    )
    con.execute(
        f"INSERT INTO {q}.sync_runs "
        "(run_id, sync_name, source, mode, started_at, status, dry_run, forced) "
        "VALUES (?, ?, ?, ?, now()::TIMESTAMP, 'running', ?, ?)",
        [res.run_id, cfg.name, cfg.source, cfg.mode.value, res.dry_run, res.forced],
    )


def _finish_run(con: Warehouse, res: SyncResult) -> None:
    q = ns(con)
    res.error = mask(res.error) if res.error else res.error
    con.execute(
        f"""UPDATE {q}.sync_runs SET finished_at = now()::TIMESTAMP, duration_s = ?, status = ?,
            added = ?, changed = ?, removed = ?, invalid = ?, to_send = ?, acked = ?, rejected = ?, error = ?,
            deferred = ? WHERE run_id = ?""",
        [
            res.duration_s,
            res.status,
            res.added,
            res.changed,
            res.removed,
            res.invalid + res.blocked,
            res.to_send,
            res.acked,
            res.rejected,
            res.error,
            res.deferred,
            res.run_id,
        ],
    )


def _filtered_source(
    con: Warehouse, cfg: SyncConfig, quality_config: QualityConfig | None
) -> tuple[SyncConfig, str | None]:
    """The config the diff reads (its source: a temp view of the rows that pass the consent/erasure filter)
    and a SELECT of the rows held back (_key, _reason), or ``(cfg, None)`` where no ledger applies.

    Whatever the quality suite says, a row whose person lacks consent for the channel or is erased never
    reaches the diff: it is not sent, and in mirror mode a person who was sent before is removed."""
    filt = send_filter(con, cfg.source, config=quality_config)
    for note in filt.notes:
        log.info("sync %s: consent/erasure filter: %s", cfg.name, note)
    if filt.sendable is None:
        return cfg, None
    table = f'{qualified(con, "main")}."{cfg.source}"'
    con.execute(f"DROP VIEW IF EXISTS {_SOURCE}")
    con.execute(f"CREATE TEMP VIEW {_SOURCE} AS SELECT s.* FROM {filt.source(table)} WHERE {filt.sendable}")
    reason = f"CASE WHEN {filt.erased} THEN 'erased' ELSE 'no_consent' END" if filt.erased else "'no_consent'"
    blocked = (
        f'SELECT CAST(s."{cfg.primary_key}" AS VARCHAR) AS _key, {reason} AS _reason FROM {filt.source(table)} '
        f"WHERE NOT ({filt.sendable})"
    )
    return cfg.model_copy(update={"source": _SOURCE}), blocked


def _samples(con: Warehouse, cfg: SyncConfig, n: int) -> dict[str, list[dict[str, Any]]]:
    names = list(cfg.fields.values())
    cols = ", ".join(mapped_alias(i) for i in range(len(names)))
    out: dict[str, list[dict[str, Any]]] = {}
    for op in ("add", "change", "remove", "invalid"):
        rows = con.execute(
            f"SELECT _key, _reason, {cols} FROM {_DIFF} WHERE _op = ? ORDER BY _key LIMIT ?", [op, n]
        ).fetchall()
        out[op] = [
            {"key": r[0], **({"reason": r[1]} if r[1] else {}), **dict(zip(names, r[2:], strict=True))} for r in rows
        ]
    return out


def _create_temp(con: Warehouse, table: str, select: str) -> None:
    """(Re)create a temp table of this session from a SELECT."""
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"CREATE TEMP TABLE {table} AS {select}")


def _record_invalid(con: Warehouse, q: str, cfg: SyncConfig, res: SyncResult, blocked_sql: str | None) -> None:
    """Replace the sync's set-aside rows: the diff's invalid rows and those the consent/erasure filter held."""
    con.execute(f"DELETE FROM {q}.sync_invalid_rows WHERE sync_name = ?", [cfg.name])
    con.execute(
        f"INSERT INTO {q}.sync_invalid_rows (sync_name, key, reason, run_id, detected_at) "
        f"SELECT ?, _key, _reason, ?, now()::TIMESTAMP FROM {_DIFF} WHERE _op = 'invalid'",
        [cfg.name, res.run_id],
    )
    if res.blocked:
        con.execute(
            f"INSERT INTO {q}.sync_invalid_rows (sync_name, key, reason, run_id, detected_at) "
            f"SELECT ?, _key, _reason, ?, now()::TIMESTAMP FROM ({blocked_sql}) b WHERE _reason <> 'erased'",
            [cfg.name, res.run_id],
        )
        # an erased person's key (an email, a phone, an id) is kept only as its hash, as their erasure leaves it
        erased = con.execute(f"SELECT _key FROM ({blocked_sql}) b WHERE _reason = 'erased'").fetchall()
        con.executemany(
            f"INSERT INTO {q}.sync_invalid_rows (sync_name, key, reason, run_id, detected_at) "
            "VALUES (?, ?, 'erased', ?, now()::TIMESTAMP)",
            [(cfg.name, erased_key(cfg.name, k), res.run_id) for (k,) in erased],
        )


def _ranges_sql(ranges: list[tuple[int, int]]) -> str:
    """``p._rn`` in any of the (lo, hi] ranges; adjacent ranges are merged into one."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and merged[-1][1] == lo:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return "(" + " OR ".join(f"(p._rn > {int(lo)} AND p._rn <= {int(hi)})" for lo, hi in merged) + ")"


def _commit_batches(
    con: Warehouse,
    q: str,
    cfg: SyncConfig,
    run_id: str,
    ranges: list[tuple[int, int]],
    rejected: dict[str, str],
    has_updates: bool,
    clear_rejected: bool,
    notes: dict[str, str] | None = None,
    on_commit: Callable[[Warehouse, str, str, str], None] | None = None,
    deferred: dict[str, str] | None = None,
    deferred_at: dt.datetime | None = None,
    clear_deferred: bool = False,
) -> None:
    """Record acknowledged batches (rows _rn in the (lo, hi] ranges) atomically: state, rejected rows, row log.

    ``notes``: the destination's messages on rows it accepted, kept in the row log beside status ok.
    ``deferred``: rows the destination held back for the next run (key -> why): logged ``deferred``, kept out of
    the state and off the rejected rows, recorded in ``sync_deferred_rows`` (first deferred at ``deferred_at``);
    ``clear_deferred``: the sync has deferred rows on record that an acknowledgement may clear.

    ``q`` is the catalog-qualified outflow_sync schema (``ns(con)``). ``has_updates``: the batches hold
    change/remove rows (whose old state must go); ``clear_rejected``: the sync has rejected rows on record
    that an acknowledgement may clear. Both skip work on the common path. ``on_commit(con, run_id, pending,
    acked_where)`` records, in the same transaction, what was sent (``activations.privacy.SentRecorder``).
    """
    rng = _ranges_sql(ranges)
    rejected = {k: mask(m) for k, m in rejected.items()}  # a vendor's message may echo the credentials
    notes = {k: mask(m) for k, m in notes.items()} if notes else notes
    deferred = {k: mask(m) for k, m in deferred.items()} if deferred else deferred
    with con.transaction():
        acked, log_from, status, message = rng, f"{_PENDING} p", "'ok'", "NULL"
        if rejected:
            temp_text_table(con, "_outflow_rej", {"key": list(rejected), "message": list(rejected.values())})
            acked += " AND p._key NOT IN (SELECT key FROM _outflow_rej)"
            log_from += " LEFT JOIN _outflow_rej r ON p._key = r.key"
            status, message = "CASE WHEN r.key IS NOT NULL THEN 'rejected' ELSE 'ok' END", "r.message"
        if deferred:
            temp_text_table(con, "_outflow_def", {"key": list(deferred), "message": list(deferred.values())})
            acked += " AND p._key NOT IN (SELECT key FROM _outflow_def)"
            log_from += " LEFT JOIN _outflow_def d ON p._key = d.key"
            status = f"CASE WHEN d.key IS NOT NULL THEN 'deferred' ELSE {status} END"
            message = f"coalesce({message}, d.message)"
        if notes:
            temp_text_table(con, "_outflow_notes", {"key": list(notes), "note": list(notes.values())})
            log_from += " LEFT JOIN _outflow_notes n ON p._key = n.key"
            message = f"coalesce({message}, n.note)"
        if has_updates:
            con.execute(
                f"DELETE FROM {q}.sync_state WHERE sync_name = ? AND key IN "
                f"(SELECT p._key FROM {_PENDING} p WHERE {acked} AND p._op IN ('change', 'remove'))",
                [cfg.name],
            )
        con.execute(
            f"INSERT INTO {q}.sync_state (sync_name, key, row_hash, acked_at, run_id) "
            f"SELECT ?, p._key, p._hash, now()::TIMESTAMP, ? FROM {_PENDING} p "
            f"WHERE {acked} AND p._op <> 'remove'",
            [cfg.name, run_id],
        )
        con.execute(
            f"INSERT INTO {q}.sync_row_log (run_id, sync_name, key, op, status, message, logged_at) "
            f"SELECT ?, ?, p._key, p._op, {status}, {message}, now()::TIMESTAMP FROM {log_from} WHERE {rng}",
            [run_id, cfg.name],
        )
        if on_commit is not None:
            on_commit(con, run_id, _PENDING, acked)
        if rejected:
            con.execute(
                f"""INSERT INTO {q}.sync_rejected_rows
                    (sync_name, key, op, attempts, last_error, first_failed_at, last_failed_at)
                    SELECT ?, r.key, p._op, 1, r.message, now()::TIMESTAMP, now()::TIMESTAMP
                    FROM _outflow_rej r JOIN {_PENDING} p ON p._key = r.key WHERE {rng}
                    ON CONFLICT (sync_name, key) DO UPDATE SET attempts = sync_rejected_rows.attempts + 1,
                    last_error = excluded.last_error, op = excluded.op,
                    last_failed_at = excluded.last_failed_at""",
                [cfg.name],
            )
        if clear_rejected:
            con.execute(
                f"DELETE FROM {q}.sync_rejected_rows WHERE sync_name = ? AND key IN "
                f"(SELECT p._key FROM {_PENDING} p WHERE {acked})",
                [cfg.name],
            )
            if deferred:  # deferred now: not a failure any more
                con.execute(
                    f"DELETE FROM {q}.sync_rejected_rows WHERE sync_name = ? AND key IN (SELECT key FROM _outflow_def)",
                    [cfg.name],
                )
        if deferred:
            con.execute(
                f"""INSERT INTO {q}.sync_deferred_rows
                    (sync_name, key, op, deferrals, reason, first_deferred_at, last_deferred_at)
                    SELECT ?, d.key, p._op, 1, d.message, ?, ?
                    FROM _outflow_def d JOIN {_PENDING} p ON p._key = d.key WHERE {rng}
                    ON CONFLICT (sync_name, key) DO UPDATE SET deferrals = sync_deferred_rows.deferrals + 1,
                    reason = excluded.reason, op = excluded.op, last_deferred_at = excluded.last_deferred_at""",
                [cfg.name, deferred_at, deferred_at],
            )
        if clear_deferred:
            con.execute(
                f"DELETE FROM {q}.sync_deferred_rows WHERE sync_name = ? AND key IN "
                f"(SELECT p._key FROM {_PENDING} p WHERE {acked})",
                [cfg.name],
            )
        if cfg.delivery is Delivery.at_most_once:  # acknowledged or refused for sure: no longer in flight
            unsure = " AND p._key NOT IN (SELECT key FROM _outflow_rej WHERE message LIKE 'unconfirmed%')"
            con.execute(
                f"DELETE FROM {q}.sync_in_flight WHERE sync_name = ? AND run_id = ? AND key IN "
                f"(SELECT p._key FROM {_PENDING} p WHERE {rng}{unsure if rejected else ''})",
                [cfg.name, run_id],
            )
        con.execute(heartbeat_sql(q), [cfg.name, run_id])


_WINDOW_BATCHES = 32


class _PendingReader:
    """Hands out the pending rows batch after batch, in ``_rn`` order, as column-wise ``Batch``es.

    Reads a window of ``_WINDOW_BATCHES`` batches per query (one range scan per window, not per batch).
    Only ever called on the sync's DuckDB thread, so batches come out in order without a lock.
    """

    def __init__(
        self,
        con: Warehouse,
        cfg: SyncConfig,
        dest: Destination,
        total: int,
        sent_lookup: Callable[[Warehouse, list[str]], dict[str, list[Any]]] | None = None,
    ) -> None:
        self.con, self.total, self.size = con, total, dest.batch_size
        self.sent_lookup = sent_lookup  # removals carry the identifiers that were sent
        self.names = list(cfg.fields.values())
        self.cols = ", ".join(mapped_alias(i) for i in range(len(self.names)))
        self.op_map = {op: dest.op_for(op) for op in ("add", "change", "remove")}
        self.prefix = f"{cfg.name}\x1f"  # idempotency_key(): sha256(sync \x1f key [\x1f version])[:32]
        self.trigger = cfg.mode.value == "insert"
        self.next_lo = 0
        self.buf: list[tuple[Any, ...]] = []
        self.buf_lo = 0

    def next_batch(self) -> tuple[int, int, Batch, bool] | None:
        """(lo, hi, batch, has_updates) of the next batch (rows _rn in (lo, hi]), or None when done."""
        lo = self.next_lo
        if lo >= self.total:
            return None
        hi = min(lo + self.size, self.total)
        self.next_lo = hi
        if hi > self.buf_lo + len(self.buf):
            end = min(lo + self.size * _WINDOW_BATCHES, self.total)
            self.buf = self.con.execute(
                f"SELECT _key, _op, _hash, {self.cols} FROM {_PENDING} WHERE _rn > ? AND _rn <= ? ORDER BY _rn",
                [lo, end],
            ).fetchall()
            self.buf_lo = lo
        rows = self.buf[lo - self.buf_lo : hi - self.buf_lo]
        keys = [r[0] for r in rows]
        diff_ops = [r[1] for r in rows]
        op_map, prefix = self.op_map, self.prefix
        if self.trigger:
            idem = [sha256((prefix + k).encode()).hexdigest()[:32] for k in keys]
        else:
            idem = [
                sha256(f"{prefix}{r[0]}\x1f{'delete' if r[1] == 'remove' else r[2]}".encode()).hexdigest()[:32]
                for r in rows
            ]
        has_updates = any(op != "add" for op in diff_ops)
        values = [r[3:] if r[1] != "remove" else () for r in rows]  # a removal carries no fields
        batch = Batch(self.names, keys, [op_map[o] for o in diff_ops], idem, values)
        if self.sent_lookup is not None and has_updates:
            batch.sent = self.sent_lookup(self.con, [k for k, o in zip(keys, diff_ops, strict=True) if o == "remove"])
        return lo, hi, batch, has_updates


_Acked = tuple[int, int, dict[str, str], dict[str, str], bool, dict[str, str]]
"""One batch's outcome: (lo, hi, rejected, notes, has_updates, deferred)."""


class _GroupCommitter:
    """Commits acknowledged batches; batches acknowledged while a commit runs go together in the next one.

    Each batch's state is still committed before its worker takes another batch, so at most ``concurrency``
    batches are ever sent but not committed (what a crash can make a rerun send again)."""

    def __init__(self, run_db: Callable[..., Any], commit: Callable[..., None]) -> None:
        self.run_db, self.commit = run_db, commit
        self.lock = asyncio.Lock()
        self.queue: list[tuple[_Acked, asyncio.Future[None]]] = []

    async def __call__(
        self,
        lo: int,
        hi: int,
        rejected: dict[str, str],
        notes: dict[str, str],
        has_updates: bool,
        deferred: dict[str, str],
    ) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append(((lo, hi, rejected, notes, has_updates, deferred), fut))
        async with self.lock:
            if not fut.done():
                group, self.queue = self.queue, []
                ranges = [(item[0], item[1]) for item, _f in group]
                rej = {k: v for item, _f in group for k, v in item[2].items()}
                noted = {k: v for item, _f in group for k, v in item[3].items()}
                updates = any(item[4] for item, _f in group)
                held = {k: v for item, _f in group for k, v in item[5].items()}
                try:
                    await self.run_db(self.commit, ranges, rej, noted, updates, held)
                except BaseException as exc:
                    for _, f in group:
                        if f is not fut and not f.done():
                            if isinstance(exc, asyncio.CancelledError):
                                f.cancel()
                            else:
                                f.set_exception(exc)
                    raise
                for _, f in group:
                    if not f.done():
                        f.set_result(None)
        await fut


async def _deliver_all(
    con: Warehouse,
    cfg: SyncConfig,
    dest: Destination,
    res: SyncResult,
    deadline: float,
    on_progress: Callable[[SyncResult], None] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> None:
    """Send every pending row; commit state after each acknowledged batch.

    DuckDB work (reading pending rows, committing state) runs on one thread of its own, so the event loop
    keeps sending while the warehouse commits (DuckDB releases the GIL while it executes)."""
    q = ns(con)
    d = cfg.destination
    loop = asyncio.get_running_loop()
    db = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"outflow-sync-{cfg.name}")

    def run_db(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        return loop.run_in_executor(db, fn, *args)

    at_most_once = cfg.delivery is Delivery.at_most_once
    limits = httpx.Limits(max_connections=cfg.concurrency + 2, max_keepalive_connections=cfg.concurrency + 2)
    try:
        async with httpx.AsyncClient(timeout=d.timeout_seconds, limits=limits, verify=_tls()) as client:
            deliverer = Deliverer(
                dest, client, shared_limiter(d.base_url, d.rate_limit), max_retries=d.max_retries,
                max_backoff=d.max_backoff_seconds, max_retry_after=d.max_retry_after_seconds, deadline=deadline,
                retry_budget=d.retry_budget_seconds,
            )  # fmt: skip
            dest.begin({"add": res.added, "change": res.changed, "remove": res.removed})
            (had_rejected,) = con.execute(
                f"SELECT count(*) > 0 FROM {q}.sync_rejected_rows WHERE sync_name = ?", [cfg.name]
            ).fetchone()  # type: ignore[misc]
            sent = SentRecorder(con, cfg, dest)  # what was sent where, for removals and erasures
            reader = _PendingReader(con, cfg, dest, res.to_send, sent.lookup)
            held = Deferrals(con, cfg.name, cfg.thresholds.max_deferral_hours, clock)
            if held.since:
                forget_settled_deferrals(con, cfg.name, _PENDING)

            def commit(
                ranges: list[tuple[int, int]],
                rejected: dict[str, str],
                notes: dict[str, str],
                has_updates: bool,
                deferred: dict[str, str],
            ) -> None:
                clear = bool(had_rejected or res.rejected)
                _commit_batches(
                    con, q, cfg, res.run_id, ranges, rejected, has_updates, clear, notes, sent.record, deferred,
                    held.now(), bool(held.since),
                )  # fmt: skip

            committer = _GroupCommitter(run_db, commit)

            async def worker() -> None:
                while (item := await run_db(reader.next_batch)) is not None:
                    deliverer.check_deadline()
                    lo, hi, batch, has_updates = item
                    if at_most_once:
                        await run_db(con.execute, mark_in_flight_sql(q, _PENDING), [cfg.name, res.run_id, lo, hi])
                    rejected = await deliverer.deliver_batch(batch)
                    deferred, overdue = held.split(deliverer.take_deferred(batch.keys))
                    rejected |= overdue  # held past thresholds.max_deferral_hours: a failure, with the reason
                    if deferred and res.deferred_reason is None:
                        res.deferred_reason = next(iter(deferred.values()))
                    res.deferred += len(deferred)
                    await committer(lo, hi, rejected, deliverer.take_notes(batch.keys), has_updates, deferred)
                    res.acked += len(batch) - len(rejected) - len(deferred)
                    res.rejected += len(rejected)
                    if on_progress is not None:
                        res.retries = deliverer.stats.retries
                        on_progress(res)
                    log.debug("sync %s: batch (%d, %d] acked", cfg.name, lo, hi)

            try:
                if cfg.concurrency == 1:
                    await worker()
                else:
                    async with asyncio.TaskGroup() as tg:
                        for _ in range(cfg.concurrency):
                            tg.create_task(worker())
            except* (AuthFailed, DestinationUnavailable, AccountLevelError, RunDeadline) as eg:
                raise eg.exceptions[0] from None
            finally:
                res.requests = deliverer.stats.requests
                res.retries = deliverer.stats.retries
                res.throttled = deliverer.stats.throttled
    finally:
        db.shutdown(wait=True)  # no DuckDB work left running on the connection when the run ends
        if at_most_once:  # batches this run sent without a sure outcome: 'unknown', never resent
            res.unknown += settle_in_flight(con, cfg.name)


def run_sync(
    cfg: SyncConfig,
    *,
    con: Warehouse | None = None,
    warehouse: Path | str | None = None,
    dry_run: bool = False,
    force: bool = False,
    quality_config: QualityConfig | None = None,
    sample_size: int = 5,
    full_resync: bool = False,
    on_progress: Callable[[SyncResult], None] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> SyncResult:
    """Run one sync. Returns its result; raises SyncFailed (an OutflowError) if it failed or was refused.

    The quality gate and the consent/erasure filter always run (``quality_config``: the gate's settings,
    default ``OUTFLOW_QUALITY_CONFIG`` or the built-in defaults). ``full_resync``: send every row again, not only
    what changed (the circuit breaker still weighs the real changes and removals). ``on_progress`` is called
    with the result once the plan is known and after each acknowledged batch (acked, rejected, retries).
    ``clock``: what time it is (aware) for the destination's own rules, such as quiet hours, and for how long a
    row has been deferred; default the wall clock."""
    return asyncio.run(
        run_sync_async(
            cfg,
            con=con,
            warehouse=warehouse,
            dry_run=dry_run,
            force=force,
            quality_config=quality_config,
            sample_size=sample_size,
            full_resync=full_resync,
            on_progress=on_progress,
            clock=clock,
        )  # fmt: skip
    )


def unique_syncs(cfgs: list[SyncConfig]) -> list[SyncConfig]:
    """The syncs once each, by name, in order (a sync named twice in one command runs once; logged)."""
    seen: dict[str, SyncConfig] = {}
    for c in cfgs:
        if c.name in seen:
            log.warning("sync %s is named more than once: it runs once", c.name)
        else:
            seen[c.name] = c
    return list(seen.values())


def run_syncs(
    cfgs: list[SyncConfig],
    *,
    con: Warehouse | None = None,
    warehouse: Path | str | None = None,
    dry_run: bool = False,
    force: bool = False,
    quality_config: QualityConfig | None = None,
    on_progress: Callable[[SyncResult], None] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> list[SyncResult | OutflowError]:
    """Run several syncs concurrently in one event loop; syncs with the same destination share its limiter.

    A sync named more than once runs once (``unique_syncs``). One entry per distinct sync, in order: its
    result, or the OutflowError (e.g. SyncFailed, SyncLocked) it raised.
    """
    cfgs = unique_syncs(cfgs)

    async def _all() -> list[SyncResult | OutflowError]:
        base = _connect(warehouse) if con is None else con
        try:
            outs = await asyncio.gather(
                *(
                    run_sync_async(
                        c,
                        con=base,
                        dry_run=dry_run,
                        force=force,
                        quality_config=quality_config,
                        on_progress=on_progress,
                        clock=clock,
                    )  # fmt: skip
                    for c in cfgs
                ),
                return_exceptions=True,
            )
        finally:
            if con is None:
                base.close()
        for o in outs:
            if isinstance(o, BaseException) and not isinstance(o, OutflowError):
                raise o
        return list(outs)  # type: ignore[arg-type]

    return asyncio.run(_all())


async def run_sync_async(
    cfg: SyncConfig,
    *,
    con: Warehouse | None = None,
    warehouse: Path | str | None = None,
    dry_run: bool = False,
    force: bool = False,
    quality_config: QualityConfig | None = None,
    sample_size: int = 5,
    full_resync: bool = False,
    on_progress: Callable[[SyncResult], None] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> SyncResult:
    """``run_sync`` as a coroutine (one event loop can run several syncs)."""
    if full_resync and cfg.mode.value == "insert":
        raise OutflowError(
            f"sync {cfg.name}: --full-resync re-sends what the destination holds, but an insert (trigger) sync fires "
            "once per key and keeps nothing to re-send"
        )
    t0 = time.perf_counter()
    dest = make_destination(cfg, dry_run=dry_run)  # missing/ill-shaped secret: error before any data is read
    dest.clock = clock or utc_now
    own = con is None
    base = _connect(warehouse) if con is None else con
    # own connection (temp tables are private to this run); on Spark, the transactional state store
    con = sync_session(base, cfg.source)
    res = SyncResult(run_id=uuid.uuid4().hex, sync_name=cfg.name, dry_run=dry_run, forced=force)
    try:
        # the state's whole layout, the privacy tables too, whether or not this run sends: the readers (the
        # report, `outflow sync rejected`) take a partial layout for an older one
        ensure_privacy_schema(con)
        _check_source(con, cfg)
        acquire_lock(con, cfg.name, res.run_id)  # one runner per sync: SyncLocked names the holder
    except BaseException:
        con.close()
        if own:
            base.close()
        raise
    try:
        purge_logs(con, cfg.name, cfg.log_retention_days)
        _start_run(con, cfg, res)
        try:
            opts = {"dry_run": dry_run, "force": force, "quality_config": quality_config, "sample_size": sample_size}
            opts |= {"full_resync": full_resync, "on_progress": on_progress, "clock": dest.clock}
            opts["deadline"] = time.monotonic() + cfg.run_deadline_seconds
            await _run(con, cfg, dest, res, **opts)
        except (OutflowError, httpx.HTTPError) as exc:
            res.error = str(exc)
            if res.status == "running":
                res.status = "failed"
        finally:
            res.duration_s = time.perf_counter() - t0
            if res.status == "running":  # an unexpected error escaped: record it, then let it propagate
                res.status = "failed"
                res.error = res.error or "internal error (see the logs)"
            _finish_run(con, res)
            con.execute(f"DROP TABLE IF EXISTS {_PENDING}")
            con.execute(f"DROP TABLE IF EXISTS {_DIFF}")
            con.execute(f"DROP VIEW IF EXISTS {_SOURCE}")
    finally:
        release_lock(con, cfg.name, res.run_id)
        con.close()
        if own:
            base.close()
    log.info(
        "sync %s: %s (added=%d changed=%d removed=%d invalid=%d acked=%d rejected=%d deferred=%d) in %.2fs",
        cfg.name, res.status, res.added, res.changed, res.removed, res.invalid, res.acked, res.rejected,
        res.deferred, res.duration_s,
    )  # fmt: skip
    if not res.ok:
        raise SyncFailed(f"sync {cfg.name} {res.status}: {res.error}", res)
    return res


async def _run(
    con: Warehouse,
    cfg: SyncConfig,
    dest: Destination,
    res: SyncResult,
    *,
    dry_run: bool,
    force: bool,
    quality_config: QualityConfig | None,
    sample_size: int,
    deadline: float,
    full_resync: bool = False,
    on_progress: Callable[[SyncResult], None] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> None:
    q = ns(con)
    # The gate runs here, inside the engine, on every path; no argument switches it off.
    failures = preflight(con, cfg.source, config=quality_config)
    if failures:
        res.status = "refused"
        res.error = "preflight checks failed on main." + cfg.source + ": " + "; ".join(failures)
        return
    diff_cfg, blocked_sql = _filtered_source(con, cfg, quality_config)
    # at_most_once: batches a crashed run left in flight are recorded 'unknown' (and never resent) first
    res.unknown = 0 if dry_run else settle_in_flight(con, cfg.name)
    if res.unknown:
        log.warning("sync %s: %d rows of an interrupted run have an unknown outcome; not resent", cfg.name, res.unknown)

    t_diff = time.perf_counter()
    # the diff runs off the event loop so that other syncs in the same loop keep sending meanwhile
    # an email column mapped to a field the destination hashes itself may hold a SHA-256 digest instead
    digests = [c for c in cfg.checked_email_columns if dest.accepts_digest(cfg.fields[c])]
    if con.target == "duckdb":  # a state from before the portable row hash: rehashed on its sync's first run
        rehash_legacy_state(con, cfg.name, build_rehash_sql(cfg))
    source_schema = None if diff_cfg is not cfg else "main"  # the filter's temp view, or the model
    diff_sql = build_diff_sql(
        diff_cfg, dialect=con.dialect, state_catalog=state_catalog(con), digest_columns=digests,
        source_schema=source_schema, resend=full_resync,
    )  # fmt: skip
    await asyncio.to_thread(_create_temp, con, _DIFF, diff_sql)
    res.diff_s = time.perf_counter() - t_diff
    counts = dict(con.execute(f"SELECT _op, count(*) FROM {_DIFF} GROUP BY _op").fetchall())
    res.added, res.changed = counts.get("add", 0), counts.get("change", 0)
    res.removed, res.invalid = counts.get("remove", 0), counts.get("invalid", 0)
    if blocked_sql:
        (res.blocked,) = con.execute(f"SELECT count(*) FROM ({blocked_sql}) b").fetchone()  # type: ignore[misc]
    res.to_send = res.added + res.changed + res.removed
    (res.held_before,) = con.execute(f"SELECT count(*) FROM {q}.sync_state WHERE sync_name = ?", [cfg.name]).fetchone()  # type: ignore[misc]
    if full_resync:  # held rows sent again although unchanged: not a change the circuit breaker weighs
        (res.resent,) = con.execute(
            f"SELECT count(*) FROM {_DIFF} d JOIN {q}.sync_state s ON s.key = d._key AND s.sync_name = ? "
            "WHERE d._op = 'change' AND d._hash = s.row_hash",
            [cfg.name],
        ).fetchone()  # type: ignore[misc]

    if dry_run:
        res.samples = _samples(con, cfg, sample_size)
        res.status = "dry_run"
        return

    with con.transaction():
        _record_invalid(con, q, cfg, res, blocked_sql)

    share_limit = cfg.thresholds.max_change_share
    disruptive = res.changed - res.resent + res.removed
    if res.held_before > cfg.thresholds.min_rows_for_breaker and res.held_before > 0:
        share = disruptive / res.held_before
        if share > share_limit and not force:
            res.status = "refused"
            res.error = (
                f"circuit breaker: this run would change or remove {disruptive} of the "
                f"{res.held_before} rows "
                f"the destination holds ({share:.1%} > {share_limit:.0%}); rerun with --force if intended"
            )
            return

    # Sent in key order: the acknowledged state is then appended clustered by key, so that a later run's
    # per-batch DELETE of changed keys reads only the row groups holding those keys (DuckDB prunes the scan
    # with the batch's key range) instead of the whole state: commit cost follows the change, not the audience.
    _create_temp(
        con,
        _PENDING,
        f"SELECT *, row_number() OVER (ORDER BY _key) AS _rn FROM {_DIFF} WHERE _op <> 'invalid' ORDER BY _rn",
    )
    if con.target != "duckdb":  # batches are read and committed by _rn range (DuckDB prunes by zone maps)
        con.execute(f"CREATE INDEX {_PENDING}_rn ON {_PENDING} (_rn)")
        con.execute(f"ANALYZE {_PENDING}")
    t_send = time.perf_counter()
    if on_progress is not None:
        on_progress(res)
    try:
        await _deliver_all(con, cfg, dest, res, deadline, on_progress, clock)
    except RunDeadline as exc:
        left = res.to_send - res.acked - res.rejected - res.deferred
        res.status = "stopped"
        setting = (
            f"destination.retry_budget_seconds: {cfg.destination.retry_budget_seconds:g}"
            if isinstance(exc, RetryBudgetSpent)
            else f"run_deadline_seconds: {cfg.run_deadline_seconds:g}"
        )
        res.error = f"{exc} ({setting}); {left} rows left pending for the next run"
        return
    except (AuthFailed, DestinationUnavailable, AccountLevelError) as exc:
        res.status = "failed"
        res.error = str(exc)
        return
    finally:
        res.deliver_s = time.perf_counter() - t_send
    if res.rejected and not res.acked and not res.deferred:
        first = con.execute(
            f"SELECT last_error FROM {q}.sync_rejected_rows WHERE sync_name = ? ORDER BY last_failed_at DESC LIMIT 1",
            [cfg.name],
        ).fetchone()
        res.status = "failed"
        example = first[0] if first else "?"
        res.error = f"every row sent ({res.rejected}) was rejected by the destination, e.g. {example}"
    elif res.rejected:
        res.status = "partial"
        res.error = f"{res.rejected} rows rejected by the destination (list them: outflow sync rejected {cfg.name})"
    else:
        res.status = "success"
