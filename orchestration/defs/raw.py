"""Raw tables: loaded from OUTFLOW_RAW_DIR (your own files), or generated synthetically."""

import os
from pathlib import Path

import dagster as dg

from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from outflow.contract import GATING_TABLES, TABLES
from outflow.generate import generate
from outflow.load import load_directory

RAW_KEYS = {name: dg.AssetKey(["raw", name]) for name in TABLES}


class RawDataConfig(dg.Config):
    source_dir: str = ""  # a folder of CSV/Parquet files; empty: OUTFLOW_RAW_DIR, else synthetic data
    people: int = 2000
    seed: int = 42
    # tables that gate sending (consent_events, erasure_requests) your folder declares it has no rows for
    allow_empty: list[str] = []


def build_defs() -> dg.Definitions:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(key, group_name="raw", description=TABLES[name].description, owners=["team:data-platform"])
            for name, key in RAW_KEYS.items()
        ],
        pool=WAREHOUSE_POOL,
    )
    def raw_tables(context: dg.AssetExecutionContext, config: RawDataConfig, warehouse: WarehouseResource):
        source = config.source_dir or os.environ.get("OUTFLOW_RAW_DIR", "")
        folder = Path(source) if source else warehouse.file().parent / "synthetic"
        if not source:
            generate(config.people, config.seed, folder)
        with warehouse.connect() as con:
            # generated data declares its consent and erasure lists (possibly empty); a user's folder holds them
            # unless the run config declares otherwise
            result = load_directory(con, folder, allow_empty=config.allow_empty if source else GATING_TABLES)
        for name, key in RAW_KEYS.items():
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "rows": dg.MetadataValue.int(result.rows.get(name, 0)),
                    "set_aside": dg.MetadataValue.int(result.rejected.get(name, 0)),
                    "source": dg.MetadataValue.path(str(folder)),
                },
            )

    return dg.Definitions(assets=[raw_tables])
