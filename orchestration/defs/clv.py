"""Customer lifetime value in Dagster: one asset over models_ml.clv (also `outflow clv fit`)."""

import dagster as dg

from models_ml.clv import fit_and_score
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from outflow.asof import resolve_as_of

VALUE_KEY = dg.AssetKey(["ml", "ml_customer_value"])
OCCASIONS = dg.AssetKey(["int_orders__occasions"])


class ClvConfig(dg.Config):
    as_of: str = ""  # empty: OUTFLOW_AS_OF, else the loaded dataset's date, else the clock
    holdout_days: int = 90


def build_defs() -> dg.Definitions:
    @dg.asset(
        key=VALUE_KEY,
        deps=[OCCASIONS],
        group_name="ml",
        owners=["team:data-science"],
        pool=WAREHOUSE_POOL,
        description="BG/NBD and Gamma-Gamma fitted on the purchase occasions: expected purchases in 30/90/365 "
        "days, P(alive), expected spend and 12-month CLV per customer (main.ml_customer_value).",
    )
    def ml_customer_value(
        context: dg.AssetExecutionContext, config: ClvConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            at = resolve_as_of(config.as_of or None, con)
            context.log.info(at.describe())
            result = fit_and_score(con, at.at(), holdout_days=config.holdout_days or None)
        bg, gg, hold = result["bgnbd"], result["gamma_gamma"], result.get("holdout", {})
        metadata = {
            "as_of": dg.MetadataValue.text(at.describe()),
            "customers": dg.MetadataValue.int(result["customers"]),
            "mean_p_alive": dg.MetadataValue.float(result["mean_p_alive"]),
            "total_clv": dg.MetadataValue.float(result["total_clv"]),
            "bgnbd": dg.MetadataValue.json({k: bg[k] for k in ("r", "alpha", "a", "b")}),
            "gamma_gamma": dg.MetadataValue.json({k: gg[k] for k in ("p", "q", "gamma")}),
        }
        if "total_error_pct" in hold:
            metadata["holdout_total_error_pct"] = dg.MetadataValue.float(float(hold["total_error_pct"] or 0.0))
            metadata["holdout_mae_per_customer"] = dg.MetadataValue.float(hold["mae_per_customer"])
        return dg.MaterializeResult(metadata=metadata)

    return dg.Definitions(assets=[ml_customer_value])
