"""Campaign lift against holdouts: treated versus holdout conversion in a declared window after exposure.

Reads main.fct_campaign_conversions (dbt: one row per campaign and exposed person) and writes
- main.fct_campaign_lift: one row per campaign: group sizes, conversion rates, absolute lift (difference of
  rates) and relative lift (ratio - 1) with 95% intervals, p-value, incremental conversions and revenue, and the
  minimum detectable effect at 80% power with a note when the groups are too small to tell;
- main.fct_campaign_lift_daily: the same lift, cumulative by day since exposure (the report's charts).

Intervals: Newcombe's hybrid score interval for the difference and the adjusted log interval for the ratio
(statsmodels ``confint_proportions_2indep``); a person converts if they ordered at least once in the window.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

from outflow.errors import OutflowError
from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

CONVERSIONS = "main.fct_campaign_conversions"
LIFT_TABLE = "main.fct_campaign_lift"
DAILY_TABLE = "main.fct_campaign_lift_daily"
ALPHA = 0.05
POWER = 0.8


def minimum_detectable_effect(base_rate: float, n_treated: int, n_holdout: int) -> float:
    """Smallest absolute lift a two-sided test at 5% detects with 80% power (normal approximation)."""
    if n_treated == 0 or n_holdout == 0:
        return float("inf")
    p = min(max(base_rate, 1.0 / (n_treated + n_holdout)), 0.5)  # a zero base rate still has some variance
    z = norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER)
    return float(z * math.sqrt(p * (1 - p) * (1 / n_treated + 1 / n_holdout)))


def lift_stats(
    n_t: int, c_t: int, n_h: int, c_h: int, revenue_t: float = 0.0, revenue_h: float = 0.0
) -> dict[str, Any]:
    """Lift of treated (c_t converters of n_t) over holdout (c_h of n_h), with 95% intervals."""
    rate_t = c_t / n_t if n_t else float("nan")
    rate_h = c_h / n_h if n_h else float("nan")
    out: dict[str, Any] = {
        "treated": n_t,
        "holdout": n_h,
        "treated_conversions": c_t,
        "holdout_conversions": c_h,
        "treated_rate": rate_t,
        "holdout_rate": rate_h,
        "abs_lift": rate_t - rate_h,
        "abs_lift_low": float("nan"),
        "abs_lift_high": float("nan"),
        "rel_lift": float("nan"),
        "rel_lift_low": float("nan"),
        "rel_lift_high": float("nan"),
        "p_value": float("nan"),
    }
    if n_t and n_h:
        low, high = confint_proportions_2indep(c_t, n_t, c_h, n_h, compare="diff", method="newcomb", alpha=ALPHA)
        out["abs_lift_low"], out["abs_lift_high"] = float(low), float(high)
        if c_h > 0:
            low, high = confint_proportions_2indep(
                c_t, n_t, c_h, n_h, compare="ratio", method="log-adjusted", alpha=ALPHA
            )
            out["rel_lift"] = rate_t / rate_h - 1
            out["rel_lift_low"], out["rel_lift_high"] = float(low) - 1, float(high) - 1
        if c_t + c_h > 0:
            with np.errstate(divide="ignore", invalid="ignore"):  # its ratio and odds ratio are unused here
                out["p_value"] = float(test_proportions_2indep(c_t, n_t, c_h, n_h).pvalue)
    per_t = revenue_t / n_t if n_t else 0.0
    per_h = revenue_h / n_h if n_h else 0.0
    out["incremental_conversions"] = out["abs_lift"] * n_t
    out["incremental_conversions_low"] = out["abs_lift_low"] * n_t
    out["incremental_conversions_high"] = out["abs_lift_high"] * n_t
    out["incremental_revenue"] = (per_t - per_h) * n_t
    mde = minimum_detectable_effect(rate_h if not math.isnan(rate_h) else 0.0, n_t, n_h)
    out["mde_abs"] = mde
    significant = not math.isnan(out["abs_lift_low"]) and (out["abs_lift_low"] > 0 or out["abs_lift_high"] < 0)
    if c_t + c_h == 0:
        out["note"] = "no conversions in either group yet: nothing to compare"
    elif not significant and (math.isnan(out["abs_lift"]) or abs(out["abs_lift"]) < mde):
        out["note"] = (
            f"too small to tell: with {n_t:,} treated and {n_h:,} held out, only a lift of at least "
            f"{100 * mde:.1f} points is detectable (80% power, 5% level)"
        )
    else:
        out["note"] = "significant at the 5% level" if significant else "not significant at the 5% level"
    return out


def _read(con: Warehouse) -> pl.DataFrame:
    if not con.table_exists("main", "fct_campaign_conversions"):
        raise OutflowError(f"{CONVERSIONS} is missing: run `outflow build` first")
    return con.fetch_polars(
        "select campaign_type, campaign, arm, exposed_at, window_days, first_conversion_at, revenue, measured_as_of "
        f"from {CONVERSIONS}"
    )


def compute_lift(con: Warehouse, write: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(one row per campaign, one row per campaign and day since exposure); written to the warehouse by default."""
    rows = _read(con).with_columns(
        ((pl.col("first_conversion_at") - pl.col("exposed_at")).dt.total_seconds() / 86400).alias("_days")
    )
    summary: list[dict[str, Any]] = []
    daily: list[dict[str, Any]] = []
    for (ctype, campaign), part in sorted(rows.group_by("campaign_type", "campaign"), key=lambda g: g[0]):
        t, h = part.filter(pl.col("arm") == "treated"), part.filter(pl.col("arm") == "holdout")
        window = int(part["window_days"][0])
        head = {"campaign_type": ctype, "campaign": campaign, "window_days": window}
        stats = lift_stats(
            t.height,
            int(t["first_conversion_at"].is_not_null().sum()),
            h.height,
            int(h["first_conversion_at"].is_not_null().sum()),
            float(t["revenue"].sum()),
            float(h["revenue"].sum()),
        )
        summary.append(
            {
                **head,
                "first_exposure_at": part["exposed_at"].min(),
                "last_exposure_at": part["exposed_at"].max(),
                "measured_as_of": part["measured_as_of"][0],
                **stats,
            }
        )
        td, hd = t["_days"].to_numpy(), h["_days"].to_numpy()
        for day in range(1, window + 1):
            s = lift_stats(t.height, int(np.sum(td < day)), h.height, int(np.sum(hd < day)))
            daily.append({**head, "day": day, **{k: v for k, v in s.items() if k not in ("note",)}})
    lift = pl.DataFrame(summary, infer_schema_length=None)
    by_day = pl.DataFrame(daily, infer_schema_length=None)
    if write and lift.height:
        con.write_arrow(LIFT_TABLE, lift, mode="replace")
        con.write_arrow(DAILY_TABLE, by_day, mode="replace")
    log.info("campaign lift: %d campaigns", lift.height)
    return lift, by_day
