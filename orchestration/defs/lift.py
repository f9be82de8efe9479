"""Campaign lift in Dagster: one asset over outflow.lift (also `outflow report lift`)."""

import math

import dagster as dg

from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from outflow.lift import compute_lift

LIFT_KEY = dg.AssetKey(["fct_campaign_lift"])
CONVERSIONS = dg.AssetKey(["fct_campaign_conversions"])


def _num(value: float) -> float:
    return 0.0 if value is None or math.isnan(value) else float(value)


def build_defs() -> dg.Definitions:
    @dg.asset(
        key=LIFT_KEY,
        deps=[CONVERSIONS],
        group_name="measurement",
        owners=["team:data-science"],
        pool=WAREHOUSE_POOL,
        description="Treated versus holdout conversions in the window after exposure, per campaign: absolute "
        "and relative lift with 95% intervals, incremental conversions and revenue, minimum detectable effect "
        "(main.fct_campaign_lift and main.fct_campaign_lift_daily).",
    )
    def fct_campaign_lift(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            lift, _ = compute_lift(con)
        rows = [
            f"| {r['campaign']} ({r['campaign_type']}) | {r['treated']:,} | {r['holdout']:,} | "
            f"{100 * _num(r['abs_lift']):.1f} "
            f"[{100 * _num(r['abs_lift_low']):.1f}, {100 * _num(r['abs_lift_high']):.1f}] | "
            f"{_num(r['incremental_conversions']):.1f} | {r['note']} |"
            for r in lift.iter_rows(named=True)
        ]
        table = "\n".join(
            [
                "| campaign | treated | holdout | abs. lift pts [95% CI] | incremental | note |",
                "|---|---|---|---|---|---|",
            ]
            + rows
        )
        metadata: dict = {"campaigns": dg.MetadataValue.int(lift.height), "lift": dg.MetadataValue.md(table)}
        for r in lift.iter_rows(named=True):
            metadata[f"abs_lift/{r['campaign_type']}/{r['campaign']}"] = dg.MetadataValue.float(_num(r["abs_lift"]))
        context.log.info("campaign lift for %d campaigns", lift.height)
        return dg.MaterializeResult(metadata=metadata)

    return dg.Definitions(assets=[fct_campaign_lift])
