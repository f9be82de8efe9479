"""The lead-scoring pipeline on the warehouse: train + evaluate + register, then score and write back.

Timeline, for the warehouse's `as_of` (default: the latest event) and a horizon of 30 days:

    training cutoffs ... c3   c2   c1 = T - horizon        T = as_of - horizon        as_of
                        labels of c1 end at T  |  holdout: features before T, labels in (T, as_of]

- the model learns from cutoffs whose label windows end by T (time-based validation inside
  `train`: the latest training cutoff is the early-stopping set);
- it is evaluated out of time on the holdout at T, against the rule-based score and the logistic
  baseline, with a fairness audit across countries;
- the promotion gate compares it with the current model on that same holdout;
- the promoted model scores everyone with features before `as_of` into main.ml_lead_scores.

The generator's ground truth (`truth.people.converted`: an order in the last 30 days before
as_of) is exactly the holdout label, so `train_and_score` also reports both AUCs against it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import numpy as np
import polars as pl

from models_ml import features as F
from models_ml.errors import ModelError
from models_ml.evaluation import (
    UNKNOWN_GROUP,
    evaluate,
    population_stability_index,
    score_distribution,
    score_metrics,
)
from models_ml.model import score, train
from models_ml.registry import DEFAULT_MARGIN, ModelRegistry, decide_promotion
from models_ml.store import ensure_scores_table, write_scores
from outflow.asof import resolve_as_of as shared_as_of
from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

HORIZON_DAYS = 30
N_CUTOFFS = 6
CUTOFF_STEP_DAYS = 14
HOLDOUT_SHARE = 0.3
RULE_SCORE_TABLES = ("fct_lead_scores_backtest", "fct_lead_scores")


def resolve_as_of(value: dt.datetime | dt.date | str | None, con: Warehouse) -> dt.datetime:
    """The as-of moment every model command uses (the lead score, churn and every model config go through it).

    The shared as-of (outflow/asof.py): --as-of, OUTFLOW_AS_OF, the loaded dataset's date; a bare date is the end
    of that day. With none of them, the latest event."""
    return shared_as_of(value, con).moment or F.latest_event_time(con)


def plan_cutoffs(
    as_of: dt.datetime,
    *,
    horizon_days: int = HORIZON_DAYS,
    n_cutoffs: int = N_CUTOFFS,
    step_days: int = CUTOFF_STEP_DAYS,
    earliest: dt.datetime | None = None,
) -> tuple[list[dt.datetime], dt.datetime]:
    """(training cutoffs oldest first, holdout cutoff T = as_of - horizon)."""
    holdout = as_of - dt.timedelta(days=horizon_days)
    last_train = holdout - dt.timedelta(days=horizon_days)
    cutoffs = [last_train - dt.timedelta(days=step_days * k) for k in range(n_cutoffs - 1)] + [holdout]
    if earliest is not None:
        # keep cutoffs with at least a few weeks of history before them
        cutoffs = [c for c in cutoffs if c >= earliest + dt.timedelta(days=14)]
    if not cutoffs:
        raise ModelError(
            f"not enough history before {as_of:%Y-%m-%d} to train: need events from before "
            f"{last_train - dt.timedelta(days=14):%Y-%m-%d}"
        )
    return sorted(cutoffs), holdout


def _earliest_event(con: Warehouse) -> dt.datetime | None:
    rows = con.execute("select min(occurred_at) from main.fct_events").fetchall()
    return F._to_datetime(rows[0][0]) if rows and rows[0][0] is not None else None


def rule_scores(con: Warehouse) -> tuple[pl.DataFrame | None, str | None]:
    """The rule-based lead score per person from dbt, preferring the point-in-time backtest table."""
    for name in RULE_SCORE_TABLES:
        if F._table_exists(con, "main", name):
            df = con.fetch_polars(f"select person_id, lead_score from main.{name}")
            return df.with_columns(pl.col("lead_score").cast(pl.Float64)), name
    return None, None


def truth_labels(con: Warehouse) -> pl.DataFrame | None:
    """person_id -> converted from the generator's ground truth, or None without a truth schema."""
    needed = [("truth", "people"), ("truth", "identifiers"), ("main", "int_identity__identifiers")]
    if not all(F._table_exists(con, s, t) for s, t in needed):
        return None
    return con.fetch_polars(
        """
            select i.person_id, bool_or(p.converted) as converted
            from truth.identifiers t
            join main.int_identity__identifiers i
              on i.identifier_type = t.identifier_type and i.identifier_value = t.identifier_value
            join truth.people p on p.person_key = t.person_key
            where i.person_id is not null
            group by i.person_id
            """
    )


def holdout_person(person_id: pl.Expr, share: float) -> pl.Expr:
    """A stable pseudo-random `share` of people (blake2b of person_id): the same people every run,
    whatever the library versions, so successive models are compared on the same holdout."""
    limit = int(round(share * 10_000))

    def pick(ids: pl.Series) -> pl.Series:
        return pl.Series(
            [int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest()) % 10_000 < limit for v in ids],
            dtype=pl.Boolean,
        )

    return person_id.map_batches(pick, return_dtype=pl.Boolean)


def _group_column(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col("country").fill_null(UNKNOWN_GROUP).alias("country_group"))


LEAD_BASELINES = {
    "recency": "fewer days since the person's last event scores higher",
    "frequency": "more events before the cutoff (web, email opens and clicks, orders) scores higher",
}


def lead_baselines(holdout: pl.DataFrame) -> dict[str, np.ndarray]:
    """The simple scores the model must beat out of time: recency alone and frequency alone."""
    events = holdout.select(
        pl.sum_horizontal("web_events_total", "email_opens_total", "email_clicks_total", "orders_before")
    ).to_series()
    return {
        "recency": -holdout["days_since_last_event"].cast(pl.Float64).fill_null(float("inf")).to_numpy(),
        "frequency": events.cast(pl.Float64).to_numpy(),
    }


def train_model(
    con: Warehouse,
    *,
    as_of: dt.datetime | dt.date | str | None = None,
    registry: ModelRegistry | None = None,
    horizon_days: int = HORIZON_DAYS,
    n_cutoffs: int = N_CUTOFFS,
    step_days: int = CUTOFF_STEP_DAYS,
    margin: float = DEFAULT_MARGIN,
    exclude_customers: bool = False,
    holdout_share: float = HOLDOUT_SHARE,
    seed: int = 0,
) -> dict[str, Any]:
    """Train on past cutoffs, evaluate on the holdout, register, and promote through the gate."""
    registry = registry or ModelRegistry()
    as_of_dt = resolve_as_of(as_of, con)
    cutoffs, holdout_cutoff = plan_cutoffs(
        as_of_dt,
        horizon_days=horizon_days,
        n_cutoffs=n_cutoffs,
        step_days=step_days,
        earliest=_earliest_event(con),
    )
    data = F.build_training_set(con, cutoffs, horizon_days=horizon_days, exclude_customers=exclude_customers)
    data = _group_column(data).with_columns(holdout_person(pl.col("person_id"), holdout_share).alias("_holdout"))
    # holdout people are never trained on, at any cutoff; they are scored at the holdout cutoff
    train_df = data.filter(~pl.col("_holdout")).drop("_holdout")
    holdout = data.filter(pl.col("_holdout") & (pl.col(F.TIME_COLUMN) == holdout_cutoff)).drop("_holdout")
    if holdout.height == 0 or holdout[F.LABEL_COLUMN].n_unique() < 2:
        raise ModelError(
            f"the holdout at {holdout_cutoff:%Y-%m-%d} has {holdout.height} people and "
            f"{int(holdout[F.LABEL_COLUMN].sum())} conversions; need both outcomes to evaluate"
        )
    cols = F.feature_columns(train_df)
    # early stopping on the latest training cutoff (time-based), then refit on all training rows
    model = train(
        train_df,
        F.LABEL_COLUMN,
        feature_columns=cols,
        time_column=F.TIME_COLUMN,
        seed=seed,
        valid_fraction=0.25,
        refit=True,
    )

    compare: dict[str, np.ndarray] = lead_baselines(holdout)
    rules, rule_table = rule_scores(con)
    if rules is not None:
        joined = holdout.select("person_id").join(rules, on="person_id", how="left")
        compare["rule_based"] = joined["lead_score"].to_numpy()
    report = evaluate(model, holdout, F.LABEL_COLUMN, compare=compare, group="country_group")
    report["rule_score_table"] = rule_table
    report["baselines"] = LEAD_BASELINES
    holdout_proba = model.predict(holdout)

    current_version = registry.current_version()
    current_auc: float | None = None
    if current_version is not None:
        try:
            current, _ = registry.load(current_version)
            current_auc = score_metrics(holdout[F.LABEL_COLUMN].cast(pl.Float64).to_numpy(), current.predict(holdout))[
                "roc_auc"
            ]
        except ModelError as exc:  # e.g. the current model used features that no longer exist
            log.warning(
                "current model %s cannot score the holdout (%s); comparing stored metrics",
                current_version,
                exc,
            )
            current_auc = next(
                (
                    v.meta["metrics"]["holdout"]["model"]["roc_auc"]
                    for v in registry.versions()
                    if v.version == current_version
                ),
                None,
            )
    candidate_auc = report["model"]["roc_auc"]
    promoted, reason = decide_promotion(candidate_auc, current_auc, margin)

    meta = {
        "as_of": as_of_dt.isoformat(),
        "training_window": {
            "cutoffs": [c.isoformat() for c in cutoffs],
            "holdout_cutoff": holdout_cutoff.isoformat(),
            "horizon_days": horizon_days,
            "events_before": holdout_cutoff.isoformat(),
            "exclude_customers": exclude_customers,
        },
        "label": f"order within {horizon_days} days after the cutoff",
        "metrics": {"holdout": report},
        "reference_distribution": score_distribution(holdout_proba),
        "promotion": {
            "margin": margin,
            "current_version": current_version,
            "current_holdout_auc": current_auc,
        },
    }
    mv = registry.save(model, meta)
    if promoted:
        registry.promote(mv.version, reason)
    else:
        registry.record_decision(mv.version, False, reason)
    log.info(
        "model %s: holdout AUC %.4f; %s (%s)",
        mv.version,
        candidate_auc or float("nan"),
        "promoted" if promoted else "not promoted",
        reason,
    )
    return {
        "model_version": mv.version,
        "promoted": promoted,
        "promotion_reason": reason,
        "current_version": registry.current_version(),
        "as_of": as_of_dt,
        "holdout_cutoff": holdout_cutoff,
        "training_cutoffs": cutoffs,
        "report": report,
        "holdout_predictions": holdout.select("person_id").with_columns(
            pl.Series("score", holdout_proba, dtype=pl.Float64)
        ),
        "holdout_labels": holdout.select("person_id", F.LABEL_COLUMN),
    }


def score_people(
    con: Warehouse,
    *,
    as_of: dt.datetime | dt.date | str | None = None,
    registry: ModelRegistry | None = None,
    version: str | None = None,
    top_k: int = 3,
    exclude_customers: bool = False,
    train_if_missing: bool = False,
) -> dict[str, Any]:
    """Score everyone with the current (or given) model and replace main.ml_lead_scores.

    train_if_missing: on a fresh deployment with no promoted model, train the first one (through the
    promotion gate) instead of failing; its version is returned as ``bootstrapped_model``.
    """
    registry = registry or ModelRegistry()
    bootstrapped = None
    if train_if_missing and version is None and registry.current_version() is None:
        log.info("no promoted model yet: training the first one before scoring")
        bootstrapped = train_model(con, as_of=as_of, registry=registry, exclude_customers=exclude_customers)[
            "model_version"
        ]
    model, meta = registry.load(version)
    as_of_dt = resolve_as_of(as_of, con)
    feats = F.build_features(con, as_of_dt, exclude_customers=exclude_customers)
    ensure_scores_table(con)
    scored = score(model, feats, id_column="person_id", top_k=top_k)
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    n = write_scores(con, scored, meta["version"], scored_at=scored_at)
    s = scored["score"].to_numpy()
    previous = registry.score_runs()
    psi_previous = population_stability_index(previous[-1]["distribution"], s) if previous else None
    registry.record_score_run(
        {
            "scored_at": scored_at.isoformat(),
            "as_of": as_of_dt.isoformat(),
            "model_version": meta["version"],
            "rows": n,
            "mean_score": float(np.mean(s)) if n else None,
            "distribution": score_distribution(s),
            "psi_vs_previous_run": psi_previous,
        }
    )
    return {
        "model_version": meta["version"],
        "rows": n,
        "as_of": as_of_dt,
        "scored_at": scored_at,
        "mean_score": float(np.mean(s)) if n else None,
        "null_rate": float(scored["score"].null_count() / n) if n else None,
        # drift against the previous scoring run (None on the first run) and, for information,
        # against the model's holdout scores (which differ by design: the holdout is a past cutoff)
        "psi": psi_previous,
        "psi_vs_holdout": population_stability_index(meta.get("reference_distribution", {}), s),
        "scores": scored,
        "bootstrapped_model": bootstrapped,
    }


def train_and_score(
    con: Warehouse,
    *,
    as_of: dt.datetime | dt.date | str | None = None,
    registry: ModelRegistry | None = None,
    margin: float = DEFAULT_MARGIN,
    exclude_customers: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Train (through the promotion gate), score everyone, and report AUCs against ground truth.

    Returns: model_version, promoted, holdout_auc (against warehouse labels), logistic_auc,
    rule_auc_holdout, and when the generator's truth is present truth_auc_model and truth_auc_rule
    (both scored at the holdout cutoff, i.e. before the truth's 30-day label window), rows_scored.
    """
    registry = registry or ModelRegistry()
    trained = train_model(
        con, as_of=as_of, registry=registry, margin=margin, exclude_customers=exclude_customers, seed=seed
    )
    scored = score_people(con, as_of=trained["as_of"], registry=registry, exclude_customers=exclude_customers)
    report = trained["report"]
    result: dict[str, Any] = {
        "model_version": trained["model_version"],
        "promoted": trained["promoted"],
        "promotion_reason": trained["promotion_reason"],
        "scoring_model_version": scored["model_version"],
        "as_of": trained["as_of"].isoformat(),
        "holdout_cutoff": trained["holdout_cutoff"].isoformat(),
        "holdout_auc": report["model"]["roc_auc"],
        "holdout_pr_auc": report["model"]["pr_auc"],
        "holdout_top_decile_lift": report["model"]["top_decile_lift"],
        "logistic_auc": report["comparison"].get("logistic_baseline", {}).get("roc_auc"),
        "rule_auc_holdout": report["comparison"].get("rule_based", {}).get("roc_auc"),
        "rule_score_table": report.get("rule_score_table"),
        "fairness_passes": report.get("fairness", {}).get("passes"),
        "rows_scored": scored["rows"],
        "truth_auc_model": None,
        "truth_auc_rule": None,
        "truth_people": None,
    }
    truth = truth_labels(con)
    if truth is not None:
        preds = trained["holdout_predictions"].join(truth, on="person_id", how="inner")
        y = preds["converted"].cast(pl.Float64).to_numpy()
        result["truth_people"] = preds.height
        result["truth_auc_model"] = score_metrics(y, preds["score"].to_numpy())["roc_auc"]
        rules, _ = rule_scores(con)
        if rules is not None:
            both = preds.join(rules, on="person_id", how="left")
            result["truth_auc_rule"] = score_metrics(y, both["lead_score"].to_numpy())["roc_auc"]
    log.info(
        "lead scoring: model AUC %s vs rule-based %s (ground truth)",
        result["truth_auc_model"],
        result["truth_auc_rule"],
    )
    return result
