"""Small warehouse helpers: does a relation exist, which columns does it have, which sync models are there."""

from __future__ import annotations

from outflow.warehouse import Warehouse


def split_relation(relation: str) -> tuple[str, str]:
    """``'raw.orders'`` -> ``('raw', 'orders')``; a bare name is in schema ``main``."""
    schema, _, name = relation.rpartition(".")
    return (schema or "main", name)


def quote(relation: str) -> str:
    schema, name = split_relation(relation)
    return f'"{schema}"."{name}"'


def columns(con: Warehouse, relation: str) -> dict[str, str]:
    """Column name -> type (lower case), in order; empty when the relation does not exist."""
    return con.columns(*split_relation(relation))


def exists(con: Warehouse, relation: str) -> bool:
    return bool(columns(con, relation))


def activation_models(con: Warehouse) -> list[str]:
    """Every activation model (``sync_*`` audiences, ``trg_*`` triggers) in schema ``main``."""
    return [t for t in con.tables("main") if t.startswith(("sync_", "trg_"))]


def is_read_only(con: Warehouse) -> bool:
    return con.read_only


def database_path(con: Warehouse) -> str | None:
    """The DuckDB file behind the connection (None on a server warehouse or in memory)."""
    return con.location if con.target == "duckdb" and con.location != ":memory:" else None
