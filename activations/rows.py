"""What happened to each row of a sync, read back from the state schema: rows the destination rejected (with its
message), rows set aside before sending (with the reason), and the row log, for one sync or for one person
across every sync. The CLI (``outflow sync rejected | log``, ``outflow person explain``), the HTML report and
the Dagster asset checks all read through these functions, on every warehouse engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from activations.config import SyncConfig, load_syncs
from outflow.errors import OutflowError, did_you_mean

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse


def open_state(con: Warehouse) -> str:
    """The qualified state schema, its tables created (and a warehouse of the old layout migrated) first."""
    from activations.privacy import ensure_privacy_schema

    return ensure_privacy_schema(con)


#: the run log the listing commands read
STATE_TABLES = (
    "sync_runs",
    "sync_rejected_rows",
    "sync_invalid_rows",
    "sync_row_log",
    "sync_sent",
    "sync_destinations",
)


def state_for_reading(con: Warehouse) -> str | None:
    """The qualified state schema when its tables are in place, None on a warehouse no sync has run against
    (nothing sent, nothing rejected). Creates nothing: a state of an older layout, which only a writer can move,
    is one line naming the command that does."""
    from activations.state import OLD_SCHEMA, SCHEMA, ns

    present = [t for t in STATE_TABLES if con.table_exists(SCHEMA, t)]
    old = con.tables(OLD_SCHEMA)
    if len(present) == len(STATE_TABLES) and not old:
        return ns(con)
    if not present and not old:
        return None
    raise OutflowError(
        "the warehouse's sync state is of an older layout: run `outflow sync runs` once to update it, then retry"
    )


def open_for_reading(warehouse: object) -> tuple[Warehouse, str]:
    """A session for the commands that only read the run log: read-only (so they share the warehouse with other
    readers and never write it) when the state tables are in place; read-write only to create them, on a
    warehouse no sync has run against yet or one of the old layout."""
    from activations.engine import _connect

    con = _connect(warehouse, read_only=True)  # type: ignore[arg-type]
    try:
        q = state_for_reading(con)
    except OutflowError:
        q = None
    if q is not None:
        return con, q
    con.close()
    con = _connect(warehouse)  # type: ignore[arg-type]
    return con, open_state(con)


def known_syncs(con: Warehouse, q: str, declared: Sequence[SyncConfig] | None = None) -> list[str]:
    """Every sync name the YAML declares or the state has a record of (a renamed sync keeps its rows)."""
    names = {c.name for c in (load_syncs() if declared is None else declared)}
    for table in ("sync_runs", "sync_rejected_rows", "sync_invalid_rows"):
        names |= {r[0] for r in con.execute(f"SELECT DISTINCT sync_name FROM {q}.{table}").fetchall()}
    return sorted(names)


def check_sync_name(con: Warehouse, q: str, name: str, declared: Sequence[SyncConfig] | None = None) -> None:
    """One line with the nearest name for a sync neither declared nor on record."""
    names = known_syncs(con, q, declared)
    if name not in names:
        raise OutflowError(f"no sync named {name!r} declared or on record{did_you_mean(name, names)}")


def rejected_rows(con: Warehouse, q: str, sync_name: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """Rows the destination refused and that wait for the next run, with the destination's message."""
    sql = (
        "SELECT sync_name, key, op, attempts, last_error AS message, first_failed_at, last_failed_at "
        f"FROM {q}.sync_rejected_rows WHERE (CAST(? AS VARCHAR) IS NULL OR sync_name = ?) "
        "ORDER BY sync_name, last_failed_at DESC, key"
    )
    return con.fetch_polars(sql + _limit(limit), [sync_name, sync_name])


def invalid_rows(con: Warehouse, q: str, sync_name: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """Rows set aside before sending (null or duplicate key, malformed email, no consent, erased), with why."""
    sql = (
        "SELECT sync_name, key, reason, detected_at FROM "
        f"{q}.sync_invalid_rows WHERE (CAST(? AS VARCHAR) IS NULL OR sync_name = ?) ORDER BY sync_name, reason, key"
    )
    return con.fetch_polars(sql + _limit(limit), [sync_name, sync_name])


def has_deferrals(con: Warehouse) -> bool:
    """Whether the state has ``sync_deferred_rows``: a state of the layout before deferred rows has none until
    the engine's next run creates it, and its readers then show no deferred row (not an "older layout")."""
    from activations.state import SCHEMA

    return con.table_exists(SCHEMA, "sync_deferred_rows")


def deferred_rows(con: Warehouse, q: str, sync_name: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """Rows the destination held back for a later run (quiet hours), with the reason, how many runs deferred
    them and since when; none on a state from before deferred rows."""
    columns = ("sync_name", "key", "op", "runs", "reason", "first_deferred_at", "last_deferred_at")
    if not has_deferrals(con):
        return empty_frame(*columns)
    sql = (
        f"SELECT {', '.join(columns).replace('runs', 'deferrals AS runs')} FROM {q}.sync_deferred_rows "
        "WHERE (CAST(? AS VARCHAR) IS NULL OR sync_name = ?) ORDER BY sync_name, first_deferred_at, key"
    )
    return con.fetch_polars(sql + _limit(limit), [sync_name, sync_name])


def reasons(con: Warehouse, q: str | None, sync_name: str | None = None) -> pl.DataFrame:
    """How many rows each reason holds back, per sync: (sync_name, kind rejected|invalid|deferred, reason,
    rows); none without a state (``q`` None)."""
    if q is None:
        return empty_frame("sync_name", "kind", "reason", "rows")
    deferred = (
        " UNION ALL SELECT sync_name, 'deferred' AS kind, reason, count(*) AS rows "
        f"FROM {q}.sync_deferred_rows WHERE (CAST(? AS VARCHAR) IS NULL OR sync_name = ?) GROUP BY sync_name, reason"
        if has_deferrals(con)
        else ""
    )
    return con.fetch_polars(
        "SELECT sync_name, 'rejected' AS kind, last_error AS reason, count(*) AS rows "
        f"FROM {q}.sync_rejected_rows WHERE (CAST(? AS VARCHAR) IS NULL OR sync_name = ?) GROUP BY sync_name, "
        "last_error UNION ALL SELECT sync_name, 'invalid' AS kind, reason, count(*) AS rows "
        f"FROM {q}.sync_invalid_rows WHERE (CAST(? AS VARCHAR) IS NULL OR sync_name = ?) GROUP BY sync_name, "
        f"reason{deferred} ORDER BY 1, 2, 4 DESC",
        [sync_name] * (6 if deferred else 4),
    )


HELD_COLUMNS = ("sync_name", "key", "held", "why")


def people_held(con: Warehouse, q: str | None, people: Sequence[str]) -> pl.DataFrame:
    """The rows of these people a sync holds back now, with a person_id column: rejected by the destination
    (retried next run), set aside before sending, or deferred, each with one line of why, e.g. ``deferred``,
    ``held: quiet hours in America/New_York; sent next run (since 2026-11-26 03:30 UTC, runs: 2)``. Their keys
    as ``people_log`` finds them; reads only."""
    if q is None or not people:
        return empty_frame("person_id", *HELD_COLUMNS)
    keys = person_keys_sql(con, q, load_syncs(), who="IN (SELECT person_id FROM _outflow_people)")
    since = "' (since ' || substr(CAST({at} AS VARCHAR), 1, 16) || ' UTC, runs: ' || CAST({n} AS VARCHAR) || ')'"
    held = [
        "SELECT sync_name, key, 'rejected' AS held, coalesce(last_error, '') || "
        + since.format(at="first_failed_at", n="attempts")
        + f" AS why FROM {q}.sync_rejected_rows",
        f"SELECT sync_name, key, 'invalid' AS held, reason AS why FROM {q}.sync_invalid_rows",
    ]
    if has_deferrals(con):
        held.append(
            "SELECT sync_name, key, 'deferred' AS held, reason || "
            + since.format(at="first_deferred_at", n="deferrals")
            + f" AS why FROM {q}.sync_deferred_rows"
        )
    values = ", ".join(["(CAST(? AS VARCHAR))"] * len(people))
    return con.fetch_polars(
        f"WITH _outflow_people (person_id) AS (VALUES {values}) SELECT DISTINCT p.person_id, h.sync_name, h.key, "
        f"h.held, h.why FROM ({' UNION ALL '.join(held)}) h JOIN ({keys}) p ON p.sync_name = h.sync_name "
        "AND p.key = h.key ORDER BY p.person_id, h.sync_name, h.held, h.key",
        list(people),
    )


def person_keys_sql(con: Warehouse, q: str, declared: Sequence[SyncConfig], who: str = "= ?") -> str:
    """A SELECT of (person_id, sync_name, key) for the people whose id satisfies ``who`` (``= ?``: one, bound
    once per UNION branch; or ``IN (SELECT ...)``): the keys the engine recorded as sent for them, the keys their
    rows have in each declared sync's model (also rows never acknowledged), and their id itself as a key."""
    parts = [f"SELECT person_id, sync_name, key FROM {q}.sync_sent WHERE person_id {who}"]
    for cfg in declared:
        if "person_id" in con.columns("main", cfg.source):
            name = cfg.name.replace("'", "''")
            parts.append(
                f"SELECT CAST(person_id AS VARCHAR) AS person_id, '{name}' AS sync_name, "
                f"CAST({cfg.primary_key} AS VARCHAR) AS key FROM main.{cfg.source} "
                f"WHERE CAST(person_id AS VARCHAR) {who}"
            )
    parts.append(f"SELECT person_id, sync_name, person_id AS key FROM {q}.sync_sent WHERE person_id {who}")
    return " UNION ".join(parts)


LOG_COLUMNS = ("logged_at", "sync_name", "destination", "op", "key", "status", "message", "run_id")
_LOG = (
    "SELECT {extra}l.logged_at, l.sync_name, d.destination_type AS destination, l.op, l.key, l.status, l.message, "
    "l.run_id FROM {q}.sync_row_log l LEFT JOIN {q}.sync_destinations d ON d.sync_name = l.sync_name"
)


def row_log(
    con: Warehouse,
    q: str | None,
    sync_name: str | None = None,
    person_id: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """The row log, newest first: what each run did with each row (ok, rejected, deferred, unknown) and the
    destination's message, with the destination each sync sent to; for one sync and/or one person (their keys in
    every declared sync, ``person_keys_sql``); none without a state (``q`` None)."""
    if q is None:
        return empty_frame(*LOG_COLUMNS)
    params: list[object] = [sync_name, sync_name]
    person = ""
    if person_id is not None:
        keys = person_keys_sql(con, q, load_syncs())
        person = (  # a sync name holds no '|': the pair is unique
            f" AND l.sync_name || '|' || l.key IN (SELECT p.sync_name || '|' || p.key FROM ({keys}) p)"
        )
        params += [person_id] * keys.count("?")
    sql = (
        _LOG.format(extra="", q=q) + f" WHERE (CAST(? AS VARCHAR) IS NULL OR l.sync_name = ?){person} "
        "ORDER BY l.logged_at DESC, l.sync_name, l.key"
    )
    return con.fetch_polars(sql + _limit(limit), params)


def people_log(con: Warehouse, q: str | None, people: Sequence[str]) -> pl.DataFrame:
    """The row log of many people at once (``row_log`` with ``person_id`` for each), with a person_id column.
    Reads only (the people are a VALUES list, not a temp table): it runs on a read-only session."""
    if q is None or not people:
        return empty_frame("person_id", *LOG_COLUMNS)
    keys = person_keys_sql(con, q, load_syncs(), who="IN (SELECT person_id FROM _outflow_people)")
    values = ", ".join(["(CAST(? AS VARCHAR))"] * len(people))
    return con.fetch_polars(
        f"WITH _outflow_people (person_id) AS (VALUES {values}) "
        + _LOG.format(extra="p.person_id, ", q=q)
        + f" JOIN ({keys}) p ON p.sync_name = l.sync_name AND p.key = l.key "
        "ORDER BY p.person_id, l.logged_at DESC, l.sync_name, l.key",
        list(people),
    )


def empty_frame(*columns: str) -> pl.DataFrame:
    """No rows, these (text) columns: what a listing shows before anything was recorded."""
    return pl.DataFrame(schema=dict.fromkeys(columns, pl.String))


def _limit(limit: int | None) -> str:
    return f" LIMIT {int(limit)}" if limit is not None else ""
