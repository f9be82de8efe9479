"""Dagster layer for erasure: one asset running ``activations.privacy.run_erasure`` (the same function as
``outflow privacy erase``), downstream of the dbt model ``erased_persons``, and upstream of every sync asset
(``erasure_first``), so the daily job erases before it syncs.
"""

import warnings

import dagster as dg

from activations.privacy import ErasureResult, run_erasure
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

ERASURE_KEY = dg.AssetKey(["privacy", "erasure"])


def _metadata(res: ErasureResult) -> dict[str, dg.MetadataValue]:
    return {
        "run_id": dg.MetadataValue.text(res.run_id),
        "status": dg.MetadataValue.text(res.status),
        "requests_recorded": dg.MetadataValue.int(res.requests_recorded),
        "requests_not_recorded": dg.MetadataValue.int(len(res.unresolved)),  # identifier rejected or not yet read
        "persons": dg.MetadataValue.int(res.persons),
        "acked": dg.MetadataValue.int(res.acked),
        "failed": dg.MetadataValue.int(res.failed),
    }


@dg.asset(
    key=ERASURE_KEY,
    deps=[dg.AssetKey(["erased_persons"])],
    group_name="privacy",
    kinds={"python"},
    description="Erasure ledger updated, and every erased person erased at every destination that received them",
    pool=WAREHOUSE_POOL,
)
def erasure(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:  # the warehouse the settings name (DuckDB or PostgreSQL)
        res = run_erasure(con=con)
    if res.status != "success":
        raise dg.Failure(description="; ".join(res.errors) or f"{res.failed} erasures failed", metadata=_metadata(res))
    context.log.info(f"erasure: {res.requests_recorded} new requests, {res.acked} erasures acknowledged")
    if res.unresolved:
        context.log.warning(f"erasure: requests with no normalized identifier, not recorded: {res.unresolved}")
    return dg.MaterializeResult(metadata=_metadata(res))


def erasure_first(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with every asset depending on the erasure asset (for the sync assets: erase, then sync)."""
    with warnings.catch_warnings():  # map_asset_specs is marked preview in this Dagster release
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_asset_specs(func=lambda spec: spec.merge_attributes(deps=[ERASURE_KEY]))


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=[erasure])
