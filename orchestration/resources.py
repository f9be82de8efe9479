"""Resources, declared once for every domain."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from outflow import settings
from outflow.warehouse import Warehouse, connect


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse. ``path`` set: that DuckDB file. Empty: the settings (OUTFLOW_TARGET, then OUTFLOW_WAREHOUSE
    or OUTFLOW_POSTGRES_URL), so Dagster runs on the warehouse the user named once."""

    path: str = ""

    def file(self) -> Path:
        """The DuckDB file, or on PostgreSQL where it would be: the folder beside it holds local files only
        (generated data, the model registry). Reach the warehouse through ``connect``, on every target."""
        return Path(self.path) if self.path else settings.warehouse_path()

    def connect(self, read_only: bool = False) -> Warehouse:
        """A session on the warehouse; close it (or use ``with``) when done."""
        return connect(self.path, read_only=read_only) if self.path else connect(read_only=read_only)


# One pool for everything that writes the DuckDB file: DuckDB has a single writer, so steps that
# write it run one at a time (see orchestration/dagster_home/dagster.yaml for the run-level limit).
WAREHOUSE_POOL = "duckdb_warehouse"
WAREHOUSE_RUN_TAGS = {"outflow/warehouse": "duckdb"}
