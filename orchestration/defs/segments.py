"""Dagster wiring for segments: segment, audience and trigger sizes as asset metadata (plotted over time).

The segment, audience and trigger models themselves are dbt models, so they are dbt assets (groups
`segments`, `consent`, `activation`); this adds one asset downstream of them that records their sizes.
"""

import dagster as dg
from dagster import AssetExecutionContext

from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from outflow.segments import summary

#: The dbt assets this one reads (dagster-dbt's default keys are the model names).
UPSTREAM = ("segment_membership", "segment_membership_history", "audience_holdouts", "audience_holdout_history")


@dg.asset(
    group_name="segments",
    deps=[dg.AssetKey(k) for k in UPSTREAM],
    pool=WAREHOUSE_POOL,
    description="Sizes of every seg_*, sync_* and trg_* model and of every audience's control and holdout "
    "groups, recorded as metadata on each run.",
)
def segment_sizes(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        sizes = summary(con)
        groups = con.execute(
            "select measurement_group, audience, count(*) from main.audience_holdouts group by 1, 2"
        ).fetchall()
    metadata: dict[str, dg.MetadataValue] = {name: dg.MetadataValue.int(n) for name, n in sizes}
    # holdout_<audience> / control_<audience>: the measurement groups kept out of each synced audience.
    metadata.update({f"{g}_{a}": dg.MetadataValue.int(int(n)) for g, a, n in groups})
    context.log.info("segment sizes: %s", dict(sizes))
    return dg.MaterializeResult(metadata=metadata)


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=[segment_sizes])
