"""Where a sync keeps its state when the warehouse has no transactions: the state store (docs/warehouses.md).

The sync engine commits each acknowledged batch and the rows it moves out of "pending" in one transaction; that
is what makes a kill -9 at any moment lose nothing and resend nothing acknowledged (docs/sync.md). DuckDB and
PostgreSQL give it that in the warehouse itself. Spark (Parquet tables) has no multi-statement transactions, so
on OUTFLOW_TARGET=spark a sync runs on the state store instead: a DuckDB file (default
``<OUTFLOW_SPARK_WAREHOUSE>/sync_state.duckdb``) or a PostgreSQL database, named by OUTFLOW_STATE_STORE.
Before each run the models the sync reads (its source and the consent and erasure ledgers the gate reads) are
read from Spark as Arrow and written into the store's schema ``main``; Spark itself is only read.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from outflow.warehouse.base import Warehouse

log = logging.getLogger(__name__)

SETTING = "OUTFLOW_STATE_STORE"
#: The models the engine's consent and erasure gate reads beside the sync's own source.
LEDGERS = ("dim_consent", "erased_persons", "stg_privacy__erasure_requests", "int_identity__identifiers")


def location() -> Path | str:
    """The state store: OUTFLOW_STATE_STORE (a DuckDB file or a postgresql:// URL), else a DuckDB file beside
    the Spark tables."""
    value = os.environ.get(SETTING, "").strip()
    if value.startswith(("postgresql://", "postgres://")):
        return value
    if value:
        return Path(value).expanduser().resolve()
    from outflow.warehouse.spark import warehouse_dir

    return warehouse_dir() / "sync_state.duckdb"


def open_store() -> Warehouse:
    from outflow.warehouse import connect

    where = location()
    return connect(url=where) if isinstance(where, str) else connect(where)


def sync_session(wh: Warehouse, source: str) -> Warehouse:
    """The session a sync of ``main.<source>`` runs on: its own session on a transactional warehouse; on Spark,
    the state store with the source and the ledgers copied in from Spark (as Arrow) for this run."""
    if wh.target != "spark":
        return wh.cursor()
    store = open_store()
    for model in (source, *LEDGERS):
        if wh.table_exists("main", model):
            rows = wh.fetch_arrow(f"select * from main.{model}")
            store.write_arrow(f"main.{model}", rows, mode="replace")
            log.info("sync %s: main.%s read from Spark into the state store (%d rows)", source, model, rows.num_rows)
        elif store.table_exists("main", model):  # gone from Spark: never sync from a stale copy
            store.execute(f"drop table main.{model}")
    return store
