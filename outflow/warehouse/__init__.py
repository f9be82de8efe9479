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
    "local_engine",
    "quote_ident",
    "split_name",
    "table_exists",
]


def connect(
    path: Path | str | None = None,
    read_only: bool = False,
    *,
    url: str | None = None,
    target: str | None = None,
) -> Warehouse:
    """Open a session on the warehouse.

    ``path`` opens that DuckDB file, ``url`` that PostgreSQL database; with neither, the settings decide:
    ``OUTFLOW_TARGET`` (duckdb | postgres | spark), then ``OUTFLOW_WAREHOUSE``, ``OUTFLOW_POSTGRES_URL`` or
    Spark's ``OUTFLOW_SPARK_MASTER`` / ``OUTFLOW_SPARK_WAREHOUSE`` (this process's SparkSession).
    A problem the user can fix raises :class:`WarehouseError` (one line, naming the setting, no secret).
    """
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
