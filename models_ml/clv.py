"""Customer lifetime value: BG/NBD (purchases, P(alive)) and Gamma-Gamma (spend), fitted by exact maximum likelihood.

The models and their likelihoods are those of the papers:
- Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD Model",
  Marketing Science 24(2): BG/NBD, parameters r, alpha (purchase rate) and a, b (dropout);
- Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", JMR 42(4), and
  Fader & Hardie's note "The Gamma-Gamma Model of Monetary Value" (2013): parameters p, q, gamma.

Inputs per customer are the standard customer-base summary, counted in purchase *occasions* (distinct purchase
days by default, see dbt_project/models/marts/int_orders__occasions.sql):
- ``frequency`` x: repeat occasions (occasions - 1);
- ``recency`` t_x: time from the first to the last occasion;
- ``T``: time from the first occasion to the as-of time (the customer's age);
- ``monetary``: mean value of the repeat occasions (Gamma-Gamma uses repeat customers only).

Time is in any unit (weeks for the paper's CDNOW data, days in the warehouse); parameters alpha depend on it.
Why scipy and not PyMC-Marketing: see docs/measurement.md. No Dagster here; orchestration/defs/clv.py is thin.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import optimize, special

from models_ml.errors import ModelError
from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

#: The table the scores replace (one row per customer with at least one purchase occasion).
VALUE_TABLE = "main.ml_customer_value"
OCCASIONS_MODEL = "int_orders__occasions"
HORIZONS_DAYS = (30, 90, 365)
#: Monthly discount rate for CLV (about 12.7% a year) and its horizon.
DEFAULT_MONTHLY_DISCOUNT = 0.01
DEFAULT_CLV_MONTHS = 12


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n: int = 0


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    n: int = 0


# ------------------------------------------------------------------------------------------ BG/NBD


def _bgnbd_ll(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood, FHL (2005) eq. 6, computed in logs."""
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def _check_summary(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if len(x) == 0:
        raise ModelError("no customers to fit: the orders table has no purchase before the as-of date")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T + 1e-9) or np.any(T <= 0):
        raise ModelError("customer summary is inconsistent: need frequency >= 0 and 0 <= recency <= T, T > 0")


def _compress(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Identical summary rows fitted once, weighted by their count (a large base has far fewer distinct rows)."""
    stacked = np.column_stack(cols)
    uniq, counts = np.unique(stacked, axis=0, return_counts=True)
    return [uniq[:, i] for i in range(uniq.shape[1])], counts.astype(float)


#: Parameters are fitted on the log scale within these bounds (1e-6 .. 1e6): a likelihood that runs off to a
#: boundary (no heterogeneity, no dropout) stops there instead of overflowing.
LOG_BOUND = np.log(1e6)


def _minimize(nll: Any, start: np.ndarray, tol: float) -> optimize.OptimizeResult:
    """L-BFGS-B within the bounds, with tolerances tight enough to reproduce published optima to 4+ digits."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    return optimize.minimize(
        nll, start, method="L-BFGS-B", bounds=bounds, options={"ftol": tol, "gtol": 1e-10, "maxiter": 5000}
    )


def fit_bgnbd(frequency: Any, recency: Any, T: Any, *, tol: float = 1e-14) -> BGNBD:
    """Maximum-likelihood BG/NBD parameters (optimised on the log scale, so they stay positive)."""
    x, t_x, TT = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    _check_summary(x, t_x, TT)
    (ux, ut, uT), w = _compress(x, t_x, TT)
    scale = float(w.sum())

    def nll(theta: np.ndarray) -> float:
        r, alpha, a, b = np.exp(theta)
        value = -float(np.dot(w, _bgnbd_ll(r, alpha, a, b, ux, ut, uT))) / scale
        return value if np.isfinite(value) else 1e12

    start = np.log([1.0, max(float(np.mean(TT)), 1e-3), 1.0, 1.0])
    res = _minimize(nll, start, tol)
    if res.fun >= 1e12:
        raise ModelError("BG/NBD fit did not converge: the purchase history is too short or has no repeat buyers")
    r, alpha, a, b = (float(v) for v in np.exp(res.x))
    return BGNBD(r, alpha, a, b, log_likelihood=-res.fun * scale, n=len(x))


def p_alive(m: BGNBD, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """P(still active at T | x, t_x, T), FHL (2005) eq. 13; 1 for customers with no repeat purchase."""
    x, t_x, TT = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(m.a) - np.log(m.b + x - 1) + (m.r + x) * (np.log(m.alpha + TT) - np.log(m.alpha + t_x))
    return np.where(x > 0, 1.0 / (1.0 + np.exp(np.where(x > 0, log_ratio, 0.0))), 1.0)


def expected_purchases(m: BGNBD, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T], FHL (2005) eq. 10."""
    x, t_x, TT = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    z = t / (alpha + TT + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    first = (a + b + x - 1) / (a - 1) * (1 - ((alpha + TT) / (alpha + TT + t)) ** (r + x) * hyp)
    return first * p_alive(m, x, t_x, TT)


def expected_population_purchases(m: BGNBD, t: Any) -> np.ndarray:
    """E[X(t)] for a new customer over a period of length t, FHL (2005) eq. 9."""
    t = np.asarray(t, dtype=float)
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))


# ------------------------------------------------------------------------------------------ Gamma-Gamma


def _gg_ll(p: float, q: float, g: float, x: np.ndarray, mx: np.ndarray) -> np.ndarray:
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(mx)
        + px * np.log(x)
        - (px + q) * np.log(g + mx * x)
    )


def fit_gamma_gamma(frequency: Any, monetary: Any, *, tol: float = 1e-14) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma parameters from repeat customers (x > 0, mean repeat value > 0)."""
    x, mx = (np.asarray(v, dtype=float) for v in (frequency, monetary))
    keep = (x > 0) & (mx > 0)
    x, mx = x[keep], mx[keep]
    if len(x) < 3:
        raise ModelError("Gamma-Gamma needs repeat customers with a positive order value; found fewer than 3")
    scale = float(len(x))

    def nll(theta: np.ndarray) -> float:
        p, q, g = np.exp(theta)
        value = -float(np.sum(_gg_ll(p, q, g, x, mx))) / scale
        return value if np.isfinite(value) else 1e12

    start = np.log([1.0, 1.0, float(np.mean(mx))])
    res = _minimize(nll, start, tol)
    p, q, g = (float(v) for v in np.exp(res.x))
    return GammaGamma(p, q, g, log_likelihood=-res.fun * scale, n=len(x))


def expected_spend(m: GammaGamma, frequency: Any, monetary: Any) -> np.ndarray:
    """E[value of an occasion | x, mean repeat value]; the population mean p*gamma/(q-1) for x = 0."""
    x, mx = (np.asarray(v, dtype=float) for v in (frequency, monetary))
    population = m.p * m.gamma / (m.q - 1) if m.q > 1 else float("nan")
    mx = np.nan_to_num(mx, nan=0.0)
    conditional = m.p * (m.gamma + x * mx) / (m.p * x + m.q - 1)
    return np.where(x > 0, conditional, population)


def lifetime_value(
    bg: BGNBD,
    gg: GammaGamma,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary: Any,
    *,
    days_per_unit: float = 1.0,
    months: int = DEFAULT_CLV_MONTHS,
    monthly_discount: float = DEFAULT_MONTHLY_DISCOUNT,
) -> np.ndarray:
    """Discounted expected revenue over `months` months: sum of monthly expected occasions x expected spend."""
    spend = expected_spend(gg, frequency, monetary)
    month = 30.0 / days_per_unit
    total = np.zeros(len(np.asarray(frequency)))
    previous = np.zeros_like(total)
    for i in range(1, months + 1):
        cumulative = expected_purchases(bg, month * i, frequency, recency, T)
        total += (cumulative - previous) * spend / (1 + monthly_discount) ** i
        previous = cumulative
    return total


# ------------------------------------------------------------------------------------------ summaries


def summarize(
    occasions: pl.DataFrame,
    *,
    end: dt.datetime,
    holdout_end: dt.datetime | None = None,
    age_at: dt.datetime | None = None,
    customer: str = "person_id",
    at: str = "occasion_at",
    amount: str = "amount",
    days_per_unit: float = 1.0,
) -> pl.DataFrame:
    """Per customer with a first occasion before `end`: frequency, recency, T, monetary (mean repeat value), in
    units of `days_per_unit` days. With `holdout_end`, also ``holdout_purchases`` in [end, holdout_end).
    `age_at` (default `end`) is where T is measured to: the BG/NBD paper dates by day and measures T to the last
    calibration day, i.e. `end` minus one day."""
    unit = dt.timedelta(days=days_per_unit).total_seconds()
    calib = occasions.filter(pl.col(at) < end)
    out = (
        calib.sort(at)
        .group_by(customer)
        .agg(
            (pl.len() - 1).alias("frequency"),
            ((pl.col(at).max() - pl.col(at).min()).dt.total_seconds() / unit).alias("recency"),
            ((pl.lit(age_at or end) - pl.col(at).min()).dt.total_seconds() / unit).alias("T"),
            pl.col(amount).slice(1).mean().alias("monetary"),
        )
        .with_columns(pl.col("frequency").cast(pl.Int64), pl.col("monetary").fill_null(0.0))
    )
    if holdout_end is not None:
        hold = (
            occasions.filter((pl.col(at) >= end) & (pl.col(at) < holdout_end))
            .group_by(customer)
            .agg(pl.len().alias("holdout_purchases"))
        )
        out = out.join(hold, on=customer, how="left").with_columns(pl.col("holdout_purchases").fill_null(0))
    return out.sort(customer)


def holdout_accuracy(m: BGNBD, summary: pl.DataFrame, holdout_length: float) -> dict[str, Any]:
    """Calibration vs holdout: predicted and actual holdout purchases, overall and by calibration frequency."""
    pred = expected_purchases(m, holdout_length, summary["frequency"], summary["recency"], summary["T"])
    actual = summary["holdout_purchases"].to_numpy().astype(float)
    groups = np.minimum(summary["frequency"].to_numpy(), 7)
    by_frequency = [
        {
            "frequency": f"{g}+" if g == 7 else str(g),
            "customers": int((groups == g).sum()),
            "actual": float(actual[groups == g].mean()),
            "predicted": float(pred[groups == g].mean()),
        }
        for g in np.unique(groups)
    ]
    return {
        "customers": len(actual),
        "actual_total": float(actual.sum()),
        "predicted_total": float(pred.sum()),
        "total_error_pct": float(100 * (pred.sum() - actual.sum()) / actual.sum()) if actual.sum() else None,
        "mae_per_customer": float(np.mean(np.abs(pred - actual))),
        "correlation": float(np.corrcoef(pred, actual)[0, 1]) if len(actual) > 1 and actual.std() > 0 else None,
        "by_frequency": by_frequency,
    }


# ------------------------------------------------------------------------------------------ warehouse


def load_occasions(con: Warehouse, before: dt.datetime) -> pl.DataFrame:
    """Purchase occasions (person_id, occasion_at, amount) strictly before `before`."""
    if not con.table_exists("main", OCCASIONS_MODEL):
        raise ModelError(f"warehouse table main.{OCCASIONS_MODEL} is missing; run `outflow build` first")
    return con.fetch_polars(
        f"select person_id, occasion_at, amount from main.{OCCASIONS_MODEL} where occasion_at < ?", [before]
    ).with_columns(pl.col("occasion_at").cast(pl.Datetime("us")), pl.col("amount").cast(pl.Float64))


def score_customers(
    summary: pl.DataFrame, bg: BGNBD, gg: GammaGamma, *, as_of: dt.datetime, days_per_unit: float = 1.0
) -> pl.DataFrame:
    """One row per customer: expected purchases 30/90/365 days, P(alive), expected spend, CLV.

    Customers with the same (frequency, recency, T, monetary) share their scores, so each distinct summary is
    scored once (with day-dated occasions a large base has far fewer distinct summaries than customers)."""
    keys = summary.select("frequency", "recency", "T", "monetary").to_numpy().astype(float)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    x, t_x, T, m = (uniq[:, i] for i in range(4))
    scored: dict[str, np.ndarray] = {"p_alive": p_alive(bg, x, t_x, T)}
    for h in HORIZONS_DAYS:
        scored[f"expected_purchases_{h}d"] = expected_purchases(bg, h / days_per_unit, x, t_x, T)
    scored["expected_spend"] = expected_spend(gg, x, m)
    scored["clv"] = lifetime_value(bg, gg, x, t_x, T, m, days_per_unit=days_per_unit)
    inverse = inverse.reshape(-1)
    cols: dict[str, Any] = {
        "person_id": summary["person_id"],
        "frequency": summary["frequency"],
        "recency_days": summary["recency"] * days_per_unit,
        "customer_age_days": summary["T"] * days_per_unit,
        "avg_repeat_value": summary["monetary"],
        **{name: values[inverse] for name, values in scored.items()},
    }
    return pl.DataFrame(cols).with_columns(pl.lit(as_of).cast(pl.Datetime("us")).alias("as_of"))


def fit_and_score(
    con: Warehouse, as_of: dt.datetime, *, holdout_days: int | None = 90, write: bool = True
) -> dict[str, Any]:
    """Fit BG/NBD and Gamma-Gamma on the warehouse's purchase occasions before `as_of`, write
    main.ml_customer_value, and (with `holdout_days`) report accuracy of a fit that ends `holdout_days` earlier."""
    occ = load_occasions(con, as_of)
    summary = summarize(occ, end=as_of)
    bg = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    gg = fit_gamma_gamma(summary["frequency"], summary["monetary"])
    scores = score_customers(summary, bg, gg, as_of=as_of)
    if write:
        con.write_arrow(VALUE_TABLE, scores, mode="replace")
    out: dict[str, Any] = {
        "as_of": as_of,
        "customers": scores.height,
        "bgnbd": asdict(bg),
        "gamma_gamma": asdict(gg),
        "mean_p_alive": float(scores["p_alive"].mean()),
        "total_clv": float(scores["clv"].sum()),
        "scores": scores,
    }
    if holdout_days:
        cut = as_of - dt.timedelta(days=holdout_days)
        calib = summarize(occ, end=cut, holdout_end=as_of)
        try:
            bg_cal = fit_bgnbd(calib["frequency"], calib["recency"], calib["T"])
            accuracy = holdout_accuracy(bg_cal, calib, holdout_days)
            out["holdout"] = {"calibration_end": cut, "days": holdout_days, **accuracy}
        except ModelError as exc:
            out["holdout"] = {"calibration_end": cut, "days": holdout_days, "error": str(exc)}
    return out
