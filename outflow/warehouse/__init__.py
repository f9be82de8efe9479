"""One warehouse interface for every part of Outflow, with a back end per engine (see docs/warehouses.md).

    from outflow.warehouse import connect

    with connect() as wh:                     # OUTFLOW_TARGET picks the engine (duckdb by default)
        wh.execute("select count(*) from main.dim_profiles where country = ?", ["FR"]).fetchone()
        df = wh.fetch_polars("select * from main.dim_profiles")
        wh.write_arrow("ml.scores", df, mode="replace")

Only ``outflow/warehouse/duckdb.py`` imports duckdb, only ``outflow/warehouse/postgres.py`` imports psycopg and
only ``outflow/warehouse/spark.py`` imports pyspark; the back ends are imported when first used, so a DuckDB user
never loads psycopg or starts a JVM.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from outflow import settings
from outflow.warehouse.base import QueryError, Result, Warehouse, WarehouseError, WriteMode, quote_ident, split_name

__all__ = [
    "QueryError",
    "Result",
    "Warehouse",
    "WarehouseError",
    "WriteMode",
    "connect",
    "creating",
    "local_engine",
    "location",
    "quote_ident",
    "split_name",
    "table_exists",
]


#: How a PostgreSQL URL starts (a ``--warehouse`` value or ``connect(path)`` starting so opens PostgreSQL).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def location(value: str | Path) -> Path | str:
    """What ``--warehouse VALUE`` names: a ``postgresql://`` URL (returned as given) or a DuckDB file (a Path).

    Another URL scheme raises :class:`WarehouseError` naming ``--warehouse``, without the password."""
    text = str(value).strip()
    if text.startswith(POSTGRES_SCHEMES):
        return text
    if "://" in text:
        from outflow.warehouse.postgres import mask

        raise WarehouseError(
            f"--warehouse {mask(text)!r} is neither a DuckDB file nor a PostgreSQL URL: pass a file such as "
            "warehouse/outflow.duckdb, or postgresql://user@host:port/dbname (the password in PGPASSWORD)"
        )
    return Path(text)


#: May `connect` create a DuckDB file that does not exist yet? The CLI says no, except in the commands that fill
#: a warehouse (`load`, `generate`, `demo`): a reader then gets one line naming what to run, not a new empty file.
_MAY_CREATE: ContextVar[bool] = ContextVar("outflow_may_create_warehouse", default=True)
MISSING_HINT = "run `outflow load DIR` (your files) or `outflow generate`, then `outflow build`, first"


@contextmanager
def creating(allowed: bool = True) -> Iterator[None]:
    """Within this block `connect` may (or, with ``allowed=False``, may not) create a missing DuckDB file."""
    token = _MAY_CREATE.set(allowed)
    try:
        yield
    finally:
        _MAY_CREATE.reset(token)


def connect(
    path: Path | str | None = None,
    read_only: bool = False,
    *,
    url: str | None = None,
    target: str | None = None,
) -> Warehouse:
    """Open a session on the warehouse.

    ``path`` opens that DuckDB file (or, a ``postgresql://`` URL as given to ``--warehouse``, that database),
    ``url`` that PostgreSQL database; with neither, the settings decide:
    ``OUTFLOW_TARGET`` (duckdb | postgres | spark), then ``OUTFLOW_WAREHOUSE``, ``OUTFLOW_POSTGRES_URL`` or
    Spark's ``OUTFLOW_SPARK_MASTER`` / ``OUTFLOW_SPARK_WAREHOUSE`` (this process's SparkSession).
    A problem the user can fix raises :class:`WarehouseError` (one line, naming the setting, no secret).
    """
    if isinstance(path, str) and path.startswith(POSTGRES_SCHEMES) and url is None:
        from outflow.warehouse.postgres import open_postgres

        return open_postgres(path, read_only=read_only, setting="--warehouse")
    if path is None and url is None:
        target = target or settings.target()
        if target == "spark":
            from outflow.warehouse.spark import open_spark

            return open_spark(read_only=read_only)
        if target == "postgres":
            url = settings.postgres_url()
        else:
            path = settings.warehouse_path()
    if url is not None and path is None:
        from outflow.warehouse.postgres import open_postgres

        return open_postgres(url, read_only=read_only)
    from outflow.warehouse.duckdb import open_duckdb

    if not _MAY_CREATE.get() and str(path) != ":memory:" and not Path(path).exists():  # type: ignore[arg-type]
        raise WarehouseError(f"no warehouse at {path} (OUTFLOW_WAREHOUSE): {MISSING_HINT}")
    return open_duckdb(path, read_only=read_only)  # type: ignore[arg-type]


def local_engine(temp_directory: Path | str | None = None) -> Warehouse:
    """A private in-memory DuckDB for reading local files (the loader's file engine), whatever the target."""
    from outflow.warehouse.duckdb import local_engine as _local_engine

    return _local_engine(temp_directory)


def table_exists(con: Any, schema: str, table: str) -> bool:
    """Does ``schema.table`` exist? (Kept for older callers: prefer ``wh.table_exists(schema, table)``.)"""
    if isinstance(con, Warehouse):
        return con.table_exists(schema, table)
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0]
    return bool(row and row[0])
