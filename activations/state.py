"""The ``outflow_sync`` schema: sync state, rejected/invalid rows, run log, run locks. Only the sync engine (and
the privacy operations beside it) writes here.

It was called ``outflow`` before, which the default warehouse file ``outflow.duckdb`` made ambiguous (catalog
``outflow`` or schema ``outflow``): ``ensure_schema`` moves the tables of a warehouse from before, once.

One runner per sync: ``acquire_lock`` inserts the sync's row in ``outflow_sync.sync_locks`` (primary key: the sync
name) with its holder (run, pid, host, since, heartbeat); a second runner, in this process or another one on
any warehouse engine, finds the row and is refused with one line naming the holder. A holder that died is
taken over: on the same host when its pid is gone, on another host when its heartbeat is older than
``LOCK_STALE_AFTER``. (A DuckDB file admits one writing process at all: a second process is stopped earlier,
by DuckDB's own file lock, which ``locked_warehouse_message`` turns into one line.)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from outflow.errors import OutflowError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

SCHEMA = "outflow_sync"
OLD_SCHEMA = "outflow"
"""Where the state lived before it was renamed (``migrate_old_schema``)."""

DDL = [
    "CREATE SCHEMA IF NOT EXISTS {ns}",
    # The last state each destination ACKNOWLEDGED, one row per (sync, key).
    """CREATE TABLE IF NOT EXISTS {ns}.sync_state (
        sync_name VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        row_hash BIGINT NOT NULL,
        acked_at TIMESTAMP NOT NULL,
        run_id VARCHAR
    )""",
    # Rows the destination refused; retried next run until accepted.
    """CREATE TABLE IF NOT EXISTS {ns}.sync_rejected_rows (
        sync_name VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        op VARCHAR,
        attempts INTEGER NOT NULL,
        last_error VARCHAR,
        first_failed_at TIMESTAMP,
        last_failed_at TIMESTAMP,
        PRIMARY KEY (sync_name, key)
    )""",
    # Rows set aside before sending (null/duplicate key, malformed email): the current set per sync.
    """CREATE TABLE IF NOT EXISTS {ns}.sync_invalid_rows (
        sync_name VARCHAR NOT NULL,
        key VARCHAR,
        reason VARCHAR NOT NULL,
        run_id VARCHAR,
        detected_at TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS {ns}.sync_runs (
        run_id VARCHAR PRIMARY KEY,
        sync_name VARCHAR NOT NULL,
        source VARCHAR,
        mode VARCHAR,
        started_at TIMESTAMP,
        finished_at TIMESTAMP,
        duration_s DOUBLE PRECISION,
        status VARCHAR,
        dry_run BOOLEAN,
        forced BOOLEAN,
        added BIGINT,
        changed BIGINT,
        removed BIGINT,
        invalid BIGINT,
        to_send BIGINT,
        acked BIGINT,
        rejected BIGINT,
        error VARCHAR,
        deferred BIGINT
    )""",
    # Rows the destination held back for a later run (quiet hours): not sent, not failed, not in the state.
    # A row still deferred more than thresholds.max_deferral_hours after first_deferred_at is rejected instead.
    """CREATE TABLE IF NOT EXISTS {ns}.sync_deferred_rows (
        sync_name VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        op VARCHAR,
        deferrals INTEGER NOT NULL,
        reason VARCHAR,
        first_deferred_at TIMESTAMP,
        last_deferred_at TIMESTAMP,
        PRIMARY KEY (sync_name, key)
    )""",
    """CREATE TABLE IF NOT EXISTS {ns}.sync_locks (
        sync_name VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        pid INTEGER,
        host VARCHAR,
        acquired_at TIMESTAMP,
        heartbeat_at TIMESTAMP
    )""",
    # Batches sent under at-most-once delivery whose acknowledgement is not yet recorded: a run that finds
    # one left by a crashed run records its rows as 'unknown' and never sends them again.
    """CREATE TABLE IF NOT EXISTS {ns}.sync_in_flight (
        sync_name VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        op VARCHAR,
        row_hash BIGINT,
        sent_at TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS {ns}.sync_row_log (
        run_id VARCHAR NOT NULL,
        sync_name VARCHAR NOT NULL,
        key VARCHAR,
        op VARCHAR,
        status VARCHAR,
        message VARCHAR,
        logged_at TIMESTAMP
    )""",
]


def catalog(con: Warehouse) -> str:
    """The warehouse's catalog name (DuckDB: the file's stem, e.g. ``outflow`` for outflow.duckdb)."""
    (name,) = con.execute("SELECT current_database()").fetchone()  # type: ignore[misc]
    return str(name)


def state_catalog(con: Warehouse) -> str | None:
    """The catalog that qualifies the state schema: DuckDB's, so that no catalog named like the schema (a file
    ``outflow_sync.duckdb``, or ``outflow.duckdb`` for the old schema ``outflow``) makes a bare name ambiguous;
    none elsewhere (PostgreSQL names one database per session and refuses a qualified ``CREATE SCHEMA``)."""
    return catalog(con) if con.target == "duckdb" else None


def qualified(con: Warehouse, schema: str) -> str:
    """``schema`` qualified as ``state_catalog`` says."""
    cat = state_catalog(con)
    return f'"{cat.replace(chr(34), chr(34) * 2)}".{schema}' if cat else schema


def ns(con: Warehouse) -> str:
    """The ``outflow_sync`` schema, qualified where the engine needs it (``state_catalog``)."""
    return qualified(con, SCHEMA)


def ensure_schema(con: Warehouse) -> None:
    """Create the outflow_sync schema and its tables if they do not exist (moving them from the old schema
    ``outflow`` first, ``migrate_old_schema``); ``sync_state`` holds one row per (sync, key), enforced by a
    unique index (a warehouse from before it is de-duplicated first, keeping the latest acknowledged row of each
    key). A DuckDB state from before the portable row hash is set aside for ``rehash_legacy_state``."""
    migrate_old_schema(con)
    q = ns(con)
    for stmt in DDL:
        con.execute(stmt.format(ns=q))
    if "deferred" not in con.columns(SCHEMA, "sync_runs"):  # a run log from before deferred rows
        con.execute(f"ALTER TABLE {q}.sync_runs ADD COLUMN deferred BIGINT")
    if con.target == "duckdb" and con.columns(SCHEMA, "sync_state").get("row_hash") == "ubigint":
        _set_aside_legacy_state(con, q)
    index = f"CREATE UNIQUE INDEX IF NOT EXISTS sync_state_key ON {q}.sync_state (sync_name, key)"
    try:
        con.execute(index)
    except Exception:  # the interface's constraint error: duplicates from before
        dup = f"SELECT 1 FROM {q}.sync_state GROUP BY sync_name, key HAVING count(*) > 1 LIMIT 1"
        if con.execute(dup).fetchone() is None:
            raise
        _dedupe_state(con, q)
        con.execute(index)


def _state_ddl() -> dict[str, str]:
    """Each table of the state schema (the privacy tables' included) -> its CREATE statement."""
    from activations.privacy import DDL as PRIVACY_DDL  # privacy builds on this module

    found = (re.search(r"\{ns\}\.(\w+) \(", stmt) for stmt in (*DDL, *PRIVACY_DDL))
    return {m.group(1): m.string for m in found if m}


def migrate_old_schema(con: Warehouse) -> list[str]:
    """Move the state tables of a warehouse from before the rename (schema ``outflow``) into ``outflow_sync``,
    rows, keys and all, in one transaction; drop the old schema once it holds nothing else. Idempotent: with no
    old tables left it does nothing. Returns the tables moved."""
    ddl = _state_ddl()
    known = {*ddl, LEGACY}
    old_tables = [t for t in con.tables(OLD_SCHEMA) if t in known]
    if not old_tables:
        return []
    old, new = qualified(con, OLD_SCHEMA), ns(con)
    with con.transaction():
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {new}")
        for table in old_tables:
            old_cols = con.columns(OLD_SCHEMA, table)
            if table in ddl and "ubigint" not in old_cols.values():
                con.execute(ddl[table].format(ns=new))
            else:  # the legacy table, or a state from before the portable hash: as it is (ensure_schema sets it aside)
                con.execute(f"CREATE TABLE IF NOT EXISTS {new}.{table} AS SELECT * FROM {old}.{table} LIMIT 0")
            cols = ", ".join(c for c in old_cols if c in con.columns(SCHEMA, table))
            con.execute(f"INSERT INTO {new}.{table} ({cols}) SELECT {cols} FROM {old}.{table}")
            con.execute(f"DROP TABLE {old}.{table}")
        if not con.tables(OLD_SCHEMA):
            con.execute(f"DROP SCHEMA {OLD_SCHEMA}")  # DuckDB refuses it qualified in outflow.duckdb ("ambiguous")
    log.info("moved the sync state from schema %s to %s: %s", OLD_SCHEMA, SCHEMA, ", ".join(old_tables))
    return old_tables


def _dedupe_state(con: Warehouse, q: str) -> None:
    with con.transaction():
        con.execute("DROP TABLE IF EXISTS _outflow_state_keep")
        con.execute(
            "CREATE TEMP TABLE _outflow_state_keep AS SELECT sync_name, key, row_hash, acked_at, run_id "
            "FROM (SELECT *, row_number() OVER (PARTITION BY sync_name, key ORDER BY acked_at DESC, run_id DESC) "
            f"AS rn FROM {q}.sync_state) t WHERE rn = 1"
        )
        con.execute(f"DELETE FROM {q}.sync_state")
        con.execute(f"INSERT INTO {q}.sync_state SELECT * FROM _outflow_state_keep")
        con.execute("DROP TABLE _outflow_state_keep")


def temp_text_table(con: Warehouse, table: str, columns: dict[str, list[str | None]]) -> None:
    """(Re)create a temp table of this session with these text columns, written in bulk (``write_arrow``)."""
    import pyarrow as pa

    data = pa.table({c: pa.array(v, pa.string()) for c, v in columns.items()})
    con.write_arrow(table, data, mode="replace", temporary=True)


# ------------------------------------------------------------------------- state from before the portable hash

LEGACY = "sync_state_legacy"
"""A DuckDB state written with DuckDB's ``hash()`` (UBIGINT), kept until each sync's next run rehashes it."""


def _set_aside_legacy_state(con: Warehouse, q: str) -> None:
    """Move a UBIGINT-hashed state to ``outflow_sync.sync_state_legacy`` and recreate ``sync_state`` (and
    ``sync_in_flight``, after recording its rows as their run would have) with the portable BIGINT hash."""
    for (name,) in con.execute(f"SELECT DISTINCT sync_name FROM {q}.sync_in_flight").fetchall():
        settle_in_flight(con, name)
    with con.transaction():
        con.execute(f"CREATE TABLE IF NOT EXISTS {q}.{LEGACY} AS SELECT * FROM {q}.sync_state LIMIT 0")
        con.execute(f"INSERT INTO {q}.{LEGACY} SELECT * FROM {q}.sync_state")
        con.execute(f"DROP TABLE {q}.sync_state")
        con.execute(f"DROP TABLE {q}.sync_in_flight")
        for stmt in DDL:
            if "sync_state (" in stmt or "sync_in_flight (" in stmt:
                con.execute(stmt.format(ns=q))


def rehash_legacy_state(con: Warehouse, sync_name: str, hashes: str) -> int:
    """Move this sync's rows of a state set aside by ``ensure_schema`` into ``sync_state``, rehashed: a key
    whose model row still has the acknowledged hash (``old_hash``, DuckDB's ``hash()`` of the mapped columns)
    gets the row's portable hash (``new_hash``), so an unchanged row stays unchanged; any other key gets -1,
    which no portable hash equals (they are non-negative), so it is sent again as changed. ``hashes``: a
    SELECT of (_key, _old, _new) over the model (``activations.diff.build_rehash_sql``). Returns the rows moved."""
    q = ns(con)
    if not con.table_exists(SCHEMA, LEGACY):
        return 0
    (n,) = con.execute(f"SELECT count(*) FROM {q}.{LEGACY} WHERE sync_name = ?", [sync_name]).fetchone()  # type: ignore[misc]
    if not n:
        return 0
    with con.transaction():
        con.execute(
            f"""INSERT INTO {q}.sync_state (sync_name, key, row_hash, acked_at, run_id)
                SELECT l.sync_name, l.key, coalesce(max(CASE WHEN s._old = l.row_hash THEN s._new END), -1),
                       max(l.acked_at), max(l.run_id)
                FROM {q}.{LEGACY} l
                LEFT JOIN ({hashes}) s ON s._key = l.key
                WHERE l.sync_name = ? GROUP BY l.sync_name, l.key""",
            [sync_name],
        )
        con.execute(f"DELETE FROM {q}.{LEGACY} WHERE sync_name = ?", [sync_name])
    return int(n)


# ------------------------------------------------------------------------------- at-most-once delivery

UNKNOWN_MESSAGE = (
    "outcome unknown: sent, but its acknowledgement was lost (crash, retries exhausted, deadline or an "
    "unconfirmed answer); not sent again (delivery: at_most_once)"
)


def mark_in_flight_sql(q: str, pending: str) -> str:
    """Record a batch as in flight before it is sent (params: sync_name, run_id, lo, hi)."""
    return (
        f"INSERT INTO {q}.sync_in_flight (sync_name, run_id, key, op, row_hash, sent_at) "
        f"SELECT ?, ?, _key, _op, _hash, now()::TIMESTAMP FROM {pending} WHERE _rn > ? AND _rn <= ?"
    )


def settle_in_flight(con: Warehouse, sync_name: str) -> int:
    """Rows of this sync still in flight (their run crashed or stopped before an acknowledgement): recorded
    as 'unknown' in the run log under the run that sent them, kept in the state as if acknowledged (so they are
    never sent again) and taken off the rejected rows. Returns how many."""
    q = ns(con)
    (n,) = con.execute(f"SELECT count(*) FROM {q}.sync_in_flight WHERE sync_name = ?", [sync_name]).fetchone()  # type: ignore[misc]
    if not n:
        return 0
    keys = f"(SELECT key FROM {q}.sync_in_flight WHERE sync_name = ?)"
    with con.transaction():
        con.execute(
            f"INSERT INTO {q}.sync_row_log (run_id, sync_name, key, op, status, message, logged_at) "
            f"SELECT run_id, sync_name, key, op, 'unknown', ?, now()::TIMESTAMP FROM {q}.sync_in_flight "
            "WHERE sync_name = ?",
            [UNKNOWN_MESSAGE, sync_name],
        )
        con.execute(f"DELETE FROM {q}.sync_state WHERE sync_name = ? AND key IN {keys}", [sync_name, sync_name])
        con.execute(
            f"INSERT INTO {q}.sync_state (sync_name, key, row_hash, acked_at, run_id) "
            f"SELECT sync_name, key, row_hash, now()::TIMESTAMP, run_id FROM {q}.sync_in_flight "
            "WHERE sync_name = ? AND op <> 'remove'",
            [sync_name],
        )
        con.execute(f"DELETE FROM {q}.sync_rejected_rows WHERE sync_name = ? AND key IN {keys}", [sync_name, sync_name])
        con.execute(f"DELETE FROM {q}.sync_in_flight WHERE sync_name = ?", [sync_name])
    return int(n)


# ----------------------------------------------------------------------------------------------- deferred rows


class Deferrals:
    """The rows a destination holds back for a later run (``RowResult.deferred``: the recipient's quiet hours),
    for one run of one sync. A deferred row is neither acknowledged nor rejected: it stays out of the state, so
    the next run's diff offers it again, and ``outflow_sync.sync_deferred_rows`` keeps when it was first deferred.
    Held longer than ``max_hours`` (``thresholds.max_deferral_hours``), it is rejected instead, with the reason,
    so that a misconfigured time zone or schedule cannot hold a row for ever (``split``)."""

    def __init__(self, con: Warehouse, sync_name: str, max_hours: float, clock: Callable[[], dt.datetime]) -> None:
        self.max_hours, self.clock = max_hours, clock
        rows = con.execute(
            f"SELECT key, first_deferred_at FROM {ns(con)}.sync_deferred_rows WHERE sync_name = ?", [sync_name]
        ).fetchall()
        self.since: dict[str, dt.datetime] = dict(rows)

    def now(self) -> dt.datetime:
        """The run's clock as the state stores time: naive UTC."""
        return self.clock().astimezone(dt.UTC).replace(tzinfo=None)

    def split(self, deferred: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """``deferred`` (key -> why) as (still deferred, rejected: held past the limit -> message)."""
        keep, over = {}, {}
        now, limit = self.now(), dt.timedelta(hours=self.max_hours)
        for key, why in deferred.items():
            first = self.since.get(key)
            if first is None or now - first <= limit:
                keep[key] = why
            else:
                over[key] = (
                    f"deferred too long: held back since {first:%Y-%m-%d %H:%M} UTC, more than "
                    f"thresholds.max_deferral_hours ({self.max_hours:g}); last reason: {why}; check the row's "
                    "time zone and the sync's schedule"
                )
        return keep, over


def forget_settled_deferrals(con: Warehouse, sync_name: str, pending: str) -> None:
    """Drop the deferral records of rows no longer pending (sent, or gone from the model, out of consent or
    erased since): ``sync_deferred_rows`` holds only rows still waiting."""
    con.execute(
        f"DELETE FROM {ns(con)}.sync_deferred_rows WHERE sync_name = ? AND key NOT IN (SELECT _key FROM {pending})",
        [sync_name],
    )


# ----------------------------------------------------------------------------------------- run locks

LOCK_STALE_AFTER = dt.timedelta(minutes=15)
"""A lock whose holder runs on another host and has not beaten for this long is taken over."""


class SyncLocked(OutflowError):
    """Another runner holds the sync's lock."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(name: str, pid: object, host: object, since: object, what: str = "sync") -> str:
    when = f"{since:%Y-%m-%d %H:%M:%S} UTC" if isinstance(since, dt.datetime) else "an unknown time"
    return (
        f"{what} {name} is already running: held by pid {pid} on {host} since {when}; "
        "wait for that run to finish (a holder that died is taken over by the next run)"
    )


def acquire_lock(con: Warehouse, sync_name: str, run_id: str) -> None:
    """Take the sync's lock for ``run_id``; ``SyncLocked`` (one line naming the holder) if a live runner
    holds it."""
    q = ns(con)
    host, pid = socket.gethostname(), os.getpid()
    row = con.execute(
        f"SELECT run_id, pid, host, acquired_at, heartbeat_at FROM {q}.sync_locks WHERE sync_name = ?", [sync_name]
    ).fetchone()
    if row is not None:
        old_run, old_pid, old_host, since, beat = row
        dead = (old_host == host and not _alive(int(old_pid))) or (
            old_host != host and beat is not None and beat < _now() - LOCK_STALE_AFTER
        )
        if not dead:
            raise SyncLocked(_holder(sync_name, old_pid, old_host, since))
        con.execute(f"DELETE FROM {q}.sync_locks WHERE sync_name = ? AND run_id = ?", [sync_name, old_run])
    try:
        con.execute(
            f"INSERT INTO {q}.sync_locks (sync_name, run_id, pid, host, acquired_at, heartbeat_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [sync_name, run_id, pid, host, _now(), _now()],
        )
    except Exception:  # another runner inserted it first (constraint or write-write conflict)
        row = con.execute(
            f"SELECT pid, host, acquired_at FROM {q}.sync_locks WHERE sync_name = ?", [sync_name]
        ).fetchone()
        if row is None:
            raise
        raise SyncLocked(_holder(sync_name, *row)) from None


def heartbeat_sql(q: str) -> str:
    """Refresh the holder's heartbeat (params: sync_name, run_id); run with each state commit."""
    return f"UPDATE {q}.sync_locks SET heartbeat_at = now()::TIMESTAMP WHERE sync_name = ? AND run_id = ?"


def release_lock(con: Warehouse, sync_name: str, run_id: str) -> None:
    con.execute(f"DELETE FROM {ns(con)}.sync_locks WHERE sync_name = ? AND run_id = ?", [sync_name, run_id])


_LOCK_PID = re.compile(r"lock.*?\(PID (?P<pid>\d+)\)", re.S | re.I)


def locked_warehouse_message(exc: BaseException, warehouse: object = None) -> str | None:
    """One line for DuckDB's file lock (another process has the warehouse open; DuckDB's own "Could not set
    lock on file" or the warehouse interface's "is locked by another process (PID n)"): the file, and the
    holder's pid, host and start time; ``None`` for any other error."""
    text = str(exc)
    m = _LOCK_PID.search(text)
    if not m:
        return None
    pid = int(m["pid"])
    file = re.search(r'lock on file "([^"]+)"|warehouse (\S+) is locked', text)
    where = f" {file.group(1) or file.group(2)}" if file else (f" {warehouse}" if warehouse else "")
    return (
        f"warehouse{where} is in use by another process: held by pid {pid} on {socket.gethostname()} "
        f"since {_started(pid)}; a DuckDB warehouse takes one writing process at a time: wait for it to finish"
    )


def _started(pid: int) -> str:
    """When a local process started (Linux /proc), or 'an unknown time'."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        stat = Path("/proc/stat").read_text().splitlines()
        btime = next(int(line.split()[1]) for line in stat if line.startswith("btime"))
        started = btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return "an unknown time"
    return f"{dt.datetime.fromtimestamp(started, dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def purge_logs(con: Warehouse, sync_name: str, retention_days: int) -> None:
    """Drop run-log rows older than the retention setting for one sync."""
    q = ns(con)
    cutoff = _now() - dt.timedelta(days=retention_days)
    con.execute(f"DELETE FROM {q}.sync_row_log WHERE sync_name = ? AND logged_at < ?", [sync_name, cutoff])
    con.execute(f"DELETE FROM {q}.sync_runs WHERE sync_name = ? AND started_at < ?", [sync_name, cutoff])


def forget_destination_state(con: Warehouse, sync_names: list[str]) -> None:
    """Forget what these syncs' destination holds (acknowledged state, rejected and deferred rows), for a
    destination that lost its data, such as a demo's sandbox once stopped: their next run sends every row.
    The run log and the row log are kept."""
    if not sync_names:
        return
    ensure_schema(con)
    q = ns(con)
    marks = ", ".join("?" for _ in sync_names)
    with con.transaction():
        for table in ("sync_state", "sync_rejected_rows", "sync_deferred_rows"):
            con.execute(f"DELETE FROM {q}.{table} WHERE sync_name IN ({marks})", list(sync_names))
