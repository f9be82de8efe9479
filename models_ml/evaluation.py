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
        **(curves(y, finite) if both else {}),
    }


def curves(y: np.ndarray, scores: np.ndarray, points: int = 40) -> dict[str, Any]:
    """What the report draws: the ROC curve (at most ``points`` points) and the lift of each score decile (its
    positive rate over the overall rate, best decile first)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, scores)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(points, len(fpr))).round().astype(int))
    order = np.argsort(-scores, kind="stable")
    lift = [float(y[chunk].mean() / y.mean()) for chunk in np.array_split(order, 10) if len(chunk)]
    return {"roc_curve": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}, "decile_lift": lift}


def not_judged(reason: str = "no group attribute to audit") -> dict[str, Any]:
    """The audit when there is nothing to judge: never a pass."""
    return {"status": "not judged", "passes": None, "reason": reason, "groups": [], "failing_groups": []}


def _mean_p(gap: float, variance: float) -> float:
    """Two-sided p-value of a gap with the given variance (normal approximation)."""
    if variance <= 0:
        return 1.0 if gap == 0 else 0.0
    return math.erfc(abs(gap) / math.sqrt(2 * variance))


def _outcome_rows(
    frame: pl.DataFrame, rows: list[dict[str, Any]], significance: float, tolerance: float
) -> list[dict[str, Any]]:
    """Per group: base rate, AUC, TPR and FPR at the selection threshold, and calibration
    (observed rate against mean predicted, with the p-value of the gap under a calibrated model)."""
    out = []
    for r in rows:
        part = frame.filter(pl.col("group") == r["group"])
        y = part["label"].to_numpy()
        p = np.clip(part["score"].to_numpy(), 0.0, 1.0)
        sel = part["selected"].to_numpy()
        pos, neg = y == 1, y == 0
        observed, predicted = float(y.mean()), float(p.mean())
        gap = observed - predicted
        # under calibration each y_i ~ Bernoulli(p_i): the mean's variance is sum p(1-p) / n^2
        p_cal = _mean_p(gap, float(np.sum(p * (1 - p))) / len(p) ** 2)
        miscalibrated = (
            r["judged"] and p_cal < significance and abs(gap) > max(tolerance, 0.2 * max(observed, predicted))
        )
        out.append(
            {
                **r,
                "base_rate": observed,
                "positives": int(pos.sum()),
                "auc": float(roc_auc_score(y, p)) if pos.any() and neg.any() else None,
                "tpr": float(sel[pos].mean()) if pos.any() else None,
                "fpr": float(sel[neg].mean()) if neg.any() else None,
                "mean_predicted": predicted,
                "calibration_gap": gap,
                "p_value_calibration": p_cal,
                "calibrated": not miscalibrated,
            }
        )
    return out


def _fmt_auc(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def fairness_audit(
    scores: np.ndarray | Sequence[float],
    groups: Sequence[Any] | np.ndarray | pl.Series,
    *,
    labels: Sequence[Any] | np.ndarray | None = None,
    selection_fraction: float = 0.1,
    min_ratio: float = FOUR_FIFTHS,
    min_group_size: int = 30,
    significance: float = 0.05,
    calibration_tolerance: float = 0.02,
    unjudged: Sequence[str] = (UNKNOWN_GROUP,),
) -> dict[str, Any]:
    """Selection rates per group (the four-fifths rule) and, given the outcomes, whether the model
    treats groups alike once their base rates are taken into account.

    A person is "selected" when their score is in the overall top `selection_fraction` (the
    audience a campaign would target). Each group's selection rate is divided by the highest
    group's rate (impact ratio); groups with fewer than `min_group_size` people, and the
    `unjudged` groups (people whose attribute is missing), are reported but not judged.

    Without `labels` the audit is outcome-blind: a judged group fails when its ratio is below
    `min_ratio` and the gap is significant (two-proportion z-test, p < `significance`).

    With `labels` (0/1 outcomes), each group also gets its base rate, AUC, true- and false-positive
    rates at the selection threshold and calibration (observed rate against mean predicted). Groups
    whose base rates differ are *expected* to be selected at different rates by an honest model; what
    a biased model does is mean something different by the same score for different groups. So a
    group fails when its scores are miscalibrated: the observed rate differs from the mean predicted
    one significantly (p < `significance` divided by the number of judged groups: Bonferroni) and
    by more than `calibration_tolerance` and a fifth of the rate. Selection-rate and true-positive-rate
    gaps in a calibrated model are reported and explained (by a lower base rate, or by the score
    spreading less in that group), not flagged. The equal-opportunity gap (highest minus lowest TPR)
    and the calibration gap (largest |observed - predicted|) are reported beside the lowest impact ratio.
    """
    s = np.asarray(scores, dtype=float)
    g = pl.Series("group", groups).cast(pl.String).fill_null(UNKNOWN_GROUP)
    if len(g) != len(s):
        raise ModelError(f"group has {len(g)} values but there are {len(s)} scores")
    if len(s) == 0:
        return not_judged("no rows to audit")
    threshold = float(np.quantile(s, 1.0 - selection_fraction))
    frame = pl.DataFrame({"group": g, "score": s, "selected": s >= threshold})
    if labels is not None:
        y = np.asarray(labels, dtype=float)
        if len(y) != len(s):
            raise ModelError(f"labels have {len(y)} values but there are {len(s)} scores")
        frame = frame.with_columns(pl.Series("label", y))
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
    if judged.height == 0:
        return {**not_judged(f"no group has {min_group_size} or more people with a known attribute"), "groups": []}
    best_row = judged.sort("selection_rate", descending=True).row(0, named=True)
    best = float(best_row["selection_rate"])
    rows = []
    for r in per.iter_rows(named=True):
        ratio = (r["selection_rate"] / best) if best > 0 else None
        judged_row = r["n"] >= min_group_size and r["group"] not in unjudged
        p_value = _two_proportion_p(r["selection_rate"], r["n"], best, int(best_row["n"]))
        below = judged_row and ratio is not None and ratio < min_ratio and p_value < significance
        rows.append(
            {
                **{k: (float(v) if isinstance(v, float) else v) for k, v in r.items()},
                "impact_ratio": ratio,
                "p_value_vs_highest": p_value,
                "judged": judged_row,
                "below_four_fifths": below,
            }
        )
    ratios = [r["impact_ratio"] for r in rows if r["judged"] and r["impact_ratio"] is not None]
    audit: dict[str, Any] = {
        "rule": f"four-fifths: each group's top-{selection_fraction:.0%} selection rate >= "
        f"{min_ratio:g} x the highest group's (groups with n >= {min_group_size}; a shortfall "
        f"counts when significant at p < {significance:g})",
        "significance": significance,
        "selection_fraction": selection_fraction,
        "min_ratio": min_ratio,
        "min_group_size": min_group_size,
        "threshold": threshold,
        "lowest_impact_ratio": min(ratios) if ratios else None,
    }
    if labels is None:
        for r in rows:
            r["passes"] = not r["below_four_fifths"]
        failing = [r["group"] for r in rows if not r["passes"]]
        return {
            **audit,
            "outcome_aware": False,
            "groups": rows,
            "failing_groups": failing,
            "status": "fails" if failing else "passes",
            "passes": not failing,
            "explanation": ["outcome-blind: only selection rates were compared (no outcomes given)"],
        }
    # one calibration test per judged group: Bonferroni keeps the chance of a false flag at `significance`
    n_judged = sum(1 for r in rows if r["judged"])
    rows = _outcome_rows(frame, rows, significance / max(n_judged, 1), calibration_tolerance)
    for r in rows:
        r["passes"] = r["calibrated"]
    judged_rows = [r for r in rows if r["judged"]]
    tprs = [r["tpr"] for r in judged_rows if r["tpr"] is not None and r["positives"] >= 10]
    failing = [r["group"] for r in rows if not r["passes"]]
    explanation = []
    best_base = next(r["base_rate"] for r in rows if r["group"] == best_row["group"])
    for r in rows:
        if not r["judged"]:
            continue
        if not r["calibrated"]:
            explanation.append(
                f"{r['group']}: observed rate {r['base_rate']:.3f} against {r['mean_predicted']:.3f} predicted "
                f"(p = {r['p_value_calibration']:.2g}): the score means something different for this group"
            )
        elif r["below_four_fifths"] and r["base_rate"] < best_base:
            explanation.append(
                f"{r['group']}: selection-rate ratio {r['impact_ratio']:.2f} is accounted for by its lower base rate "
                f"({r['base_rate']:.3f} against {best_base:.3f} for {best_row['group']}): its scores are "
                f"calibrated (observed {r['base_rate']:.3f}, predicted {r['mean_predicted']:.3f})"
            )
        elif r["below_four_fifths"]:
            explanation.append(
                f"{r['group']}: selection-rate ratio {r['impact_ratio']:.2f} is not explained by base rates "
                f"({r['base_rate']:.3f} against {best_base:.3f} for {best_row['group']}); its scores are "
                f"calibrated (observed {r['base_rate']:.3f}, predicted {r['mean_predicted']:.3f}) but spread "
                f"less (AUC {_fmt_auc(r['auc'])}), so fewer of its members reach the top: worth a look"
            )
    if not explanation:
        explanation.append("every judged group is calibrated and none falls significantly below four-fifths")
    return {
        **audit,
        "outcome_aware": True,
        "calibration_tolerance": calibration_tolerance,
        "equal_opportunity_gap": (max(tprs) - min(tprs)) if len(tprs) >= 2 else None,
        "calibration_gap": max(abs(r["calibration_gap"]) for r in judged_rows),
        "groups": rows,
        "failing_groups": failing,
        "status": "fails" if failing else "passes",
        "passes": not failing,
        "explanation": explanation,
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
            labels=y,
            selection_fraction=selection_fraction,
            min_ratio=min_ratio,
            min_group_size=min_group_size,
        )
    else:
        report["fairness"] = not_judged()
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
