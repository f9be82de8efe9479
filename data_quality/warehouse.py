"""Small DuckDB helpers: does a relation exist, which columns does it have, which sync models are there."""

from __future__ import annotations

import duckdb


def split_relation(relation: str) -> tuple[str, str]:
    """``'raw.orders'`` -> ``('raw', 'orders')``; a bare name is in schema ``main``."""
    schema, _, name = relation.rpartition(".")
    return (schema or "main", name)


def quote(relation: str) -> str:
    schema, name = split_relation(relation)
    return f'"{schema}"."{name}"'


def columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name -> DuckDB type, in order; empty when the relation does not exist."""
    schema, name = split_relation(relation)
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, name],
    ).fetchall()
    return {c: t for c, t in rows}


def exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    return bool(columns(con, relation))


def activation_models(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every activation model (``sync_*`` audiences, ``trg_*`` triggers) in schema ``main``."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'main' and (table_name like 'sync\\_%' escape '\\' "
        "or table_name like 'trg\\_%' escape '\\') order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def is_read_only(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        return bool(
            con.execute("select readonly from duckdb_databases() where database_name = current_database()").fetchone()[
                0
            ]
        )
    except duckdb.Error:
        return False


def database_path(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    return row[0] if row and row[0] else None
