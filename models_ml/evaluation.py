"""Evaluation report and fairness audit for any binary scores.

`evaluate(model, features, label, ...)` returns a JSON-serialisable dict:
ROC AUC, PR AUC (average precision), top-decile lift, Brier score, a calibration curve, the same
metrics for the logistic-regression baseline and for any other scores passed in (e.g. the
rule-based lead score), and, when a group column is given, a fairness audit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models_ml.errors import ModelError
from models_ml.model import FeatureTable, TrainedModel, _label_array, as_polars

log = logging.getLogger(__name__)

FOUR_FIFTHS = 0.8
UNKNOWN_GROUP = "(unknown)"


def _two_proportion_p(p1: float, n1: int, p2: float, n2: int) -> float:
    """Two-sided p-value of a two-proportion z-test (pooled)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if p1 == p2 else 0.0
    z = abs(p1 - p2) / se
    return math.erfc(z / math.sqrt(2))


def top_decile_lift(y: np.ndarray, scores: np.ndarray, fraction: float = 0.1) -> float | None:
    """Positive rate among the top `fraction` of scores divided by the overall positive rate."""
    n = len(y)
    if n == 0 or y.sum() == 0:
        return None
    k = max(1, int(np.ceil(n * fraction)))
    top = np.argsort(-scores, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def calibration_curve(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Mean predicted probability vs observed positive rate in equal-count bins of the prediction."""
    if len(y) == 0:
        return []
    order = np.argsort(proba, kind="stable")
    out = []
    for i, chunk in enumerate(np.array_split(order, min(bins, len(y)))):
        if len(chunk) == 0:
            continue
        out.append(
            {
                "bin": i + 1,
                "n": int(len(chunk)),
                "mean_predicted": float(proba[chunk].mean()),
                "observed_rate": float(y[chunk].mean()),
            }
        )
    return out


def score_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """ROC AUC, PR AUC and top-decile lift of any score (higher = more likely positive)."""
    y = np.asarray(y, dtype=float)
    scores = np.asarray(scores, dtype=float)
    ok = ~np.isnan(scores)
    if not ok.all():
        log.warning("%d scores are missing; they are ranked lowest", int((~ok).sum()))
        scores = np.where(ok, scores, -np.inf)
    both = 0 < y.sum() < len(y)
    finite = np.where(np.isfinite(scores), scores, np.nanmin(scores[np.isfinite(scores)], initial=0.0) - 1)
    return {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "roc_auc": float(roc_auc_score(y, finite)) if both else None,
        "pr_auc": float(average_precision_score(y, finite)) if both else None,
        "top_decile_lift": top_decile_lift(y, finite),
    }


def fairness_audit(
    scores: np.ndarray | Sequence[float],
    groups: Sequence[Any] | np.ndarray | pl.Series,
    *,
    selection_fraction: float = 0.1,
    min_ratio: float = FOUR_FIFTHS,
    min_group_size: int = 30,
    significance: float = 0.05,
    unjudged: Sequence[str] = (UNKNOWN_GROUP,),
) -> dict[str, Any]:
    """Score distribution and selection rate per group, checked against the four-fifths rule.

    A person is "selected" when their score is in the overall top `selection_fraction` (the
    audience a campaign would target). Each group's selection rate is divided by the highest
    group's rate (impact ratio); a group with at least `min_group_size` people fails when its
    ratio is below `min_ratio` (0.8, the four-fifths rule). Smaller groups are reported but not
    judged, and so are the `unjudged` groups (by default people whose attribute is missing).
    With small groups a ratio below 0.8 can be chance, so a group fails only when the gap to the
    highest group is also statistically significant (two-proportion z-test, p < `significance`).
    `passes` is true when no judged group fails.
    """
    s = np.asarray(scores, dtype=float)
    g = pl.Series("group", groups).cast(pl.String).fill_null(UNKNOWN_GROUP)
    if len(g) != len(s):
        raise ModelError(f"group has {len(g)} values but there are {len(s)} scores")
    if len(s) == 0:
        return {"groups": [], "passes": True, "threshold": None}
    threshold = float(np.quantile(s, 1.0 - selection_fraction))
    frame = pl.DataFrame({"group": g, "score": s, "selected": s >= threshold})
    per = (
        frame.group_by("group")
        .agg(
            pl.len().alias("n"),
            pl.col("score").mean().alias("mean_score"),
            pl.col("score").quantile(0.1).alias("p10"),
            pl.col("score").median().alias("p50"),
            pl.col("score").quantile(0.9).alias("p90"),
            pl.col("selected").mean().alias("selection_rate"),
        )
        .sort("group")
    )
    judged = per.filter((pl.col("n") >= min_group_size) & ~pl.col("group").is_in(list(unjudged)))
    source = judged if judged.height else per
    best_row = source.sort("selection_rate", descending=True).row(0, named=True)
    best = float(best_row["selection_rate"])
    rows = []
    for r in per.iter_rows(named=True):
        ratio = (r["selection_rate"] / best) if best > 0 else None
        judged_row = r["n"] >= min_group_size and r["group"] not in unjudged
        p_value = _two_proportion_p(r["selection_rate"], r["n"], best, int(best_row["n"]))
        fails = judged_row and ratio is not None and ratio < min_ratio and p_value < significance
        rows.append(
            {
                **{k: (float(v) if isinstance(v, float) else v) for k, v in r.items()},
                "impact_ratio": ratio,
                "p_value_vs_highest": p_value,
                "judged": judged_row,
                "passes": not fails,
            }
        )
    return {
        "rule": f"four-fifths: each group's top-{selection_fraction:.0%} selection rate >= "
        f"{min_ratio:g} x the highest group's (groups with n >= {min_group_size}; a shortfall "
        f"counts when significant at p < {significance:g})",
        "significance": significance,
        "selection_fraction": selection_fraction,
        "min_ratio": min_ratio,
        "min_group_size": min_group_size,
        "threshold": threshold,
        "groups": rows,
        "failing_groups": [r["group"] for r in rows if not r["passes"]],
        "passes": all(r["passes"] for r in rows),
    }


def evaluate(
    model: TrainedModel,
    features: FeatureTable,
    label: str | Sequence[Any] | pl.Series | np.ndarray,
    *,
    compare: Mapping[str, str | Sequence[float] | np.ndarray | pl.Series] | None = None,
    group: str | Sequence[Any] | pl.Series | None = None,
    calibration_bins: int = 10,
    selection_fraction: float = 0.1,
    min_ratio: float = FOUR_FIFTHS,
    min_group_size: int = 30,
) -> dict[str, Any]:
    """The evaluation report of `model` on a (holdout) feature table.

    compare: other scores to rank side by side, as column names of `features` or arrays (e.g.
    {"rule_based": "lead_score"}); the logistic baseline is added automatically when trained.
    group: a column name or array for the fairness audit (e.g. country).
    """
    df = as_polars(features)
    y = _label_array(df, label)
    proba = model.predict(df)
    report: dict[str, Any] = {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "base_rate": float(y.mean()) if len(y) else None,
        "model": {
            **score_metrics(y, proba),
            "brier": float(brier_score_loss(y, proba)) if len(y) else None,
        },
        "calibration": calibration_curve(y, proba, calibration_bins),
        "comparison": {},
    }
    base = model.predict_baseline(df)
    if base is not None:
        report["comparison"]["logistic_baseline"] = score_metrics(y, base)
    for name, values in (compare or {}).items():
        if isinstance(values, str):
            if values not in df.columns:
                raise ModelError(f"comparison column {values!r} is not in the feature table")
            arr = df[values].cast(pl.Float64).to_numpy()
        else:
            arr = np.asarray(values, dtype=float)
            if len(arr) != len(y):
                raise ModelError(f"comparison {name!r} has {len(arr)} values, expected {len(y)}")
        report["comparison"][name] = score_metrics(y, arr)
    if group is not None:
        if isinstance(group, str):
            if group not in df.columns:
                raise ModelError(f"group column {group!r} is not in the feature table")
            groups = df[group]
        else:
            groups = group
        report["fairness"] = fairness_audit(
            proba,
            groups,
            selection_fraction=selection_fraction,
            min_ratio=min_ratio,
            min_group_size=min_group_size,
        )
    return report


def score_distribution(scores: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Reference distribution for drift checks: inner quantile edges and the share in each bin."""
    s = np.asarray(scores, dtype=float)
    s = s[~np.isnan(s)]
    if len(s) == 0:
        return {"edges": [], "fractions": []}
    edges = np.unique(np.quantile(s, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, s, side="right"), minlength=len(edges) + 1)
    return {"edges": edges.tolist(), "fractions": (counts / counts.sum()).tolist()}


def population_stability_index(reference: dict[str, list[float]], scores: np.ndarray) -> float | None:
    """PSI of `scores` against a reference from `score_distribution` (0.1 = moderate, 0.25 = major shift)."""
    s = np.asarray(scores, dtype=float)
    s = s[~np.isnan(s)]
    if len(s) == 0 or not reference.get("fractions"):
        return None
    edges = np.asarray(reference["edges"], dtype=float)
    expected = np.asarray(reference["fractions"], dtype=float)
    counts = np.bincount(np.searchsorted(edges, s, side="right"), minlength=len(expected))
    actual = counts / counts.sum()
    eps = 1e-4
    e = np.clip(expected, eps, None)
    a = np.clip(actual, eps, None)
    return float(np.sum((a - e) * np.log(a / e)))
