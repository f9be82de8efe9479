"""Resources, declared once for every domain."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from outflow import settings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Empty path: OUTFLOW_WAREHOUSE, else ./warehouse/outflow.duckdb."""

    path: str = ""

    def file(self) -> Path:
        return Path(self.path) if self.path else settings.warehouse_path()


# One pool for everything that writes the DuckDB file: DuckDB has a single writer, so steps that
# write it run one at a time (see orchestration/dagster_home/dagster.yaml for the run-level limit).
WAREHOUSE_POOL = "duckdb_warehouse"
WAREHOUSE_RUN_TAGS = {"outflow/warehouse": "duckdb"}
