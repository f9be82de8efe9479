"""The ``outflow`` schema: sync state, rejected/invalid rows, run log. Only the sync engine writes here."""

from __future__ import annotations

import duckdb

SCHEMA = "outflow"

DDL = [
    "CREATE SCHEMA IF NOT EXISTS {ns}",
    # The last state each destination ACKNOWLEDGED, one row per (sync, key).
    """CREATE TABLE IF NOT EXISTS {ns}.sync_state (
        sync_name VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        row_hash UBIGINT NOT NULL,
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
        duration_s DOUBLE,
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
        error VARCHAR
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


def catalog(con: duckdb.DuckDBPyConnection) -> str:
    """The warehouse's catalog name (DuckDB: the file's stem, e.g. ``outflow`` for outflow.duckdb)."""
    (name,) = con.execute("SELECT current_database()").fetchone()  # type: ignore[misc]
    return str(name)


def ns(con: duckdb.DuckDBPyConnection) -> str:
    """The fully qualified ``outflow`` schema. Qualified with the catalog because a warehouse file named
    ``outflow.duckdb`` makes a bare ``outflow.x`` ambiguous (catalog ``outflow`` or schema ``outflow``)."""
    return '"' + catalog(con).replace('"', '""') + f'".{SCHEMA}'


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the outflow schema and its tables if they do not exist."""
    q = ns(con)
    for stmt in DDL:
        con.execute(stmt.format(ns=q))


def purge_logs(con: duckdb.DuckDBPyConnection, sync_name: str, retention_days: int) -> None:
    """Drop run-log rows older than the retention setting for one sync."""
    q = ns(con)
    con.execute(
        f"DELETE FROM {q}.sync_row_log WHERE sync_name = ? "
        f"AND logged_at < now()::TIMESTAMP - to_days(CAST(? AS INTEGER))",
        [sync_name, retention_days],
    )
    con.execute(
        f"DELETE FROM {q}.sync_runs WHERE sync_name = ? "
        f"AND started_at < now()::TIMESTAMP - to_days(CAST(? AS INTEGER))",
        [sync_name, retention_days],
    )
