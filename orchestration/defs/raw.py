"""Raw tables: loaded from your own files (OUTFLOW_RAW_DIR), or the tables `outflow load` filled, checked.

Synthetic data is generated only on purpose, in demo mode (OUTFLOW_DEMO=1, set by `make demo` and `make ui`):
nothing ever replaces loaded rows with generated ones.
"""

from pathlib import Path

import dagster as dg

from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from outflow import settings
from outflow.contract import GATING_TABLES, TABLES
from outflow.errors import OutflowError
from outflow.generate import generate
from outflow.load import dataset_as_of, load_directory

RAW_KEYS = {name: dg.AssetKey(["raw", name]) for name in TABLES}


class RawDataConfig(dg.Config):
    # a folder of CSV/Parquet files; empty: OUTFLOW_RAW_DIR, else the raw tables already loaded (`outflow load`),
    # or synthetic data in demo mode (OUTFLOW_DEMO=1)
    source_dir: str = ""
    people: int = 2000  # demo mode only
    seed: int = 42  # demo mode only
    # tables that gate sending (consent_events, erasure_requests) your folder declares it has no rows for
    allow_empty: list[str] = []


def _loaded_rows(wh) -> dict[str, int]:
    """Row counts of the loaded raw tables; one clear line if any is missing."""
    missing = [name for name in TABLES if not wh.table_exists("raw", name)]
    if missing:
        raise OutflowError(
            f"the warehouse {wh.location} has no raw tables ({', '.join(f'raw.{m}' for m in missing)}): "
            "run `outflow load DIR` first, set OUTFLOW_RAW_DIR to your files, or set OUTFLOW_DEMO=1 for synthetic data"
        )
    return {name: wh.execute(f"select count(*) from raw.{name}").fetchone()[0] for name in TABLES}


def build_defs() -> dg.Definitions:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(key, group_name="raw", description=TABLES[name].description, owners=["team:data-platform"])
            for name, key in RAW_KEYS.items()
        ],
        pool=WAREHOUSE_POOL,
    )
    def raw_tables(context: dg.AssetExecutionContext, config: RawDataConfig, warehouse: WarehouseResource):
        folder = Path(config.source_dir).expanduser() if config.source_dir else settings.raw_dir()
        rejected: dict[str, int] = {}
        generated = folder is None and settings.demo_mode()
        if generated:
            folder = warehouse.file().parent / "synthetic"
            generate(config.people, config.seed, folder)
            source = f"synthetic (OUTFLOW_DEMO=1, {config.people} people, seed {config.seed})"
        else:
            source = str(folder) if folder else "loaded tables (outflow load)"
        try:
            with warehouse.connect() as con:
                if folder is not None:
                    # generated data declares its consent and erasure lists (possibly empty); a user's folder
                    # holds them unless the run config declares otherwise
                    allow = GATING_TABLES if generated else config.allow_empty
                    result = load_directory(con, folder, allow_empty=allow)
                    rows, rejected = result.rows, result.rejected
                else:
                    rows = _loaded_rows(con)
                as_of = dataset_as_of(con)
        except OutflowError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        context.log.info(f"raw tables from {source}; data as of {as_of or 'unknown'}")
        for name, key in RAW_KEYS.items():
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "rows": dg.MetadataValue.int(rows.get(name, 0)),
                    "set_aside": dg.MetadataValue.int(rejected.get(name, 0)),
                    "source": dg.MetadataValue.text(source),
                    "as_of": dg.MetadataValue.text(as_of or "unknown"),
                },
            )

    return dg.Definitions(assets=[raw_tables])
