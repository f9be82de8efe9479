"""Train, score and report any model config (models_ml/config.py) with one registry and promotion gate.

- `kind: table`: rows of a warehouse table (read through `outflow.warehouse`); the holdout is the
  latest `holdout_share` of rows by `time_column` (out of time), or a stratified random share
  without one; `cv_folds`-fold cross-validated AUC over all rows is reported beside it.
- `kind: churn`: customers' point-in-time features at past cutoffs (models_ml/features.py); the
  holdout is the latest cutoff whose churn window has closed (as_of - window), out of time, and the
  model is compared there with recency alone, frequency alone and BG/NBD's P(alive) when
  `main.ml_customer_value` exists.
- `kind: lead_score`: the lead-score pipeline (models_ml/pipeline.py), unchanged.

Every kind registers versions in its own registry folder, promotes through `decide_promotion` on
the holdout, and writes scores (with reason codes) to the config's scores table.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models_ml import features as F
from models_ml.config import (
    ModelConfig,
    check_columns,
    check_time,
    group_values,
    label_values,
    used_columns,
)
from models_ml.errors import ModelError
from models_ml.evaluation import UNKNOWN_GROUP, evaluate, fairness_audit, score_distribution, score_metrics
from models_ml.model import _time_split, score, train
from models_ml.registry import ModelRegistry, decide_promotion, registry_root
from models_ml.store import write_entity_scores
from outflow.warehouse import Warehouse, quote_ident, split_name

log = logging.getLogger(__name__)

LABEL = "_label"
CUSTOMER_VALUE = ("main", "ml_customer_value")
CHURN_BASELINES = {
    "recency": "more days since the customer's last order scores higher",
    "frequency": "fewer orders before the cutoff scores higher",
    "p_alive": "1 - BG/NBD P(alive) from main.ml_customer_value",
}


def registry_for(cfg: ModelConfig, root: Path | str | None = None) -> ModelRegistry:
    """The lead score keeps the registry root (as `outflow score` always has); other configs get a folder."""
    base = Path(root) if root is not None else registry_root()
    return ModelRegistry(base if cfg.kind == "lead_score" else base / cfg.name)


@dataclass
class Prepared:
    """A config's examples: features, a 0/1 label (column LABEL), group columns and the holdout."""

    frame: pl.DataFrame
    entity: str
    features: list[str]
    time_column: str | None
    holdout: np.ndarray
    split: dict[str, Any]
    groups: list[str]
    baselines: dict[str, np.ndarray | None] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


# -- reading -------------------------------------------------------------------------------------
def read_table(con: Warehouse, cfg: ModelConfig) -> tuple[pl.DataFrame, str]:
    """The config's columns of its table, checked against it (unknown column, label, time nulls)."""
    assert cfg.source is not None
    schema, name = split_name(cfg.source.qualified, "main")
    table = f"{schema}.{name}"
    columns = list(con.columns(schema, name))
    if not columns:
        raise ModelError(f"{cfg.where('source')}: table {table} does not exist in the warehouse")
    check_columns(cfg, columns, table)
    wanted = used_columns(cfg, columns)
    frame = con.fetch_polars(f"select {', '.join(quote_ident(c) for c in wanted)} from {con.qualify(schema, name)}")
    if frame.height == 0:
        raise ModelError(f"{cfg.where('source')}: table {table} is empty")
    check_time(cfg, frame, table)
    return frame, table


def _with_groups(frame: pl.DataFrame, groups: list[str]) -> tuple[pl.DataFrame, list[str]]:
    names = [f"_group_{g}" for g in groups]
    cols = [group_values(frame[g]).fill_null(UNKNOWN_GROUP).alias(n) for g, n in zip(groups, names, strict=True)]
    return frame.with_columns(cols), names


def prepare_table(con: Warehouse, cfg: ModelConfig, seed: int = 0) -> Prepared:
    frame, table = read_table(con, cfg)
    y = label_values(cfg, frame, table)
    special = {cfg.entity_key, cfg.label, cfg.time_column, *cfg.exclude}
    feats = cfg.features if cfg.features is not None else [c for c in frame.columns if c not in special]
    frame, group_cols = _with_groups(frame.with_columns(y.alias(LABEL)), cfg.groups)
    mask, split = _time_split(frame, y.to_numpy(), cfg.time_column, cfg.holdout_share, seed)
    split = {**split, "holdout": "out of time" if split["split"] == "time" else "random"}
    return Prepared(frame, cfg.entity_key or "", feats, cfg.time_column, mask, split, group_cols, meta={"table": table})


def customer_value(con: Warehouse) -> pl.DataFrame | None:
    """person_id -> p_alive from BG/NBD's mart, or None when it is not built."""
    if not con.table_exists(*CUSTOMER_VALUE):
        return None
    cols = con.columns(*CUSTOMER_VALUE)
    if "p_alive" not in cols or "person_id" not in cols:
        return None
    return con.fetch_polars("select person_id, p_alive from main.ml_customer_value").with_columns(
        pl.col("person_id").cast(pl.String), pl.col("p_alive").cast(pl.Float64)
    )


def prepare_churn(con: Warehouse, cfg: ModelConfig, as_of: dt.datetime) -> Prepared:
    from models_ml.pipeline import _earliest_event, plan_cutoffs

    window = cfg.churn_window_days
    cutoffs, holdout_cutoff = plan_cutoffs(as_of, horizon_days=window, earliest=_earliest_event(con))
    frame = F.build_churn_set(con, cutoffs, window)
    if frame.height == 0:
        raise ModelError(f"{cfg.where('kind')}: no customers with an order before {cutoffs[0]:%Y-%m-%d}")
    frame = frame.with_columns(pl.col(F.CHURN_LABEL).cast(pl.Float64).alias(LABEL))
    frame, group_cols = _with_groups(frame, cfg.groups)
    mask = (frame[F.TIME_COLUMN] == holdout_cutoff).to_numpy()
    held = frame.filter(pl.Series(mask))
    if held.height == 0 or held[LABEL].n_unique() < 2 or int(mask.sum()) == frame.height:
        raise ModelError(
            f"{cfg.where('churn_window_days')}: the holdout at {holdout_cutoff:%Y-%m-%d} has {held.height} customers"
            f" and {int(held[LABEL].sum()) if held.height else 0} churned; need both outcomes and earlier cutoffs"
        )
    baselines: dict[str, np.ndarray | None] = {
        "recency": held["days_since_last_order"].cast(pl.Float64).to_numpy(),
        "frequency": -held["orders_before"].cast(pl.Float64).to_numpy(),
    }
    value = customer_value(con)
    # P(alive) is fitted on today's data, so beside an out-of-time holdout it has seen the window it
    # predicts; the report says so
    baselines["p_alive"] = (
        None
        if value is None
        else (1.0 - held.select("person_id").join(value, on="person_id", how="left")["p_alive"]).to_numpy()
    )
    feats = [c for c in F.feature_columns(frame) if c not in (F.CHURN_LABEL, LABEL, *group_cols)]
    split = {
        "split": "time",
        "holdout": "out of time",
        "valid_from": holdout_cutoff.isoformat(),
        "training_cutoffs": [c.isoformat() for c in cutoffs if c != holdout_cutoff],
    }
    return Prepared(
        frame,
        "person_id",
        feats,
        F.TIME_COLUMN,
        mask,
        split,
        group_cols,
        baselines,
        {"label": f"no completed order within {window} days after the cutoff", "baselines": CHURN_BASELINES},
    )


# -- cross-validation -----------------------------------------------------------------------------
def cv_folds(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The fold (0..k-1) of every row: stratified, shuffled with `seed` (the same folds every run)."""
    from sklearn.model_selection import StratifiedKFold

    folds = np.empty(len(y), dtype=np.int64)
    for i, (_, test) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)):
        folds[test] = i
    return folds


def cross_validate(
    frame: pl.DataFrame, features: list[str], k: int, seed: int = 0, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Mean and per-fold AUC of `train` (as the config trains it) on k stratified folds."""
    y = frame[LABEL].to_numpy()
    folds = cv_folds(y, k, seed)
    aucs = []
    for i in range(k):
        test = folds == i
        model = train(
            frame.filter(pl.Series(~test)),
            LABEL,
            feature_columns=features,
            baseline=False,
            refit=True,
            calibrate=False,
            params=params,
            seed=seed,
        )
        aucs.append(score_metrics(y[test], model.predict(frame.filter(pl.Series(test))))["roc_auc"])
    return {"folds": k, "seed": seed, "roc_auc": float(np.mean(aucs)), "per_fold": aucs}


# -- train / run / report -------------------------------------------------------------------------
def _audits(proba: np.ndarray, held: pl.DataFrame, groups: list[str]) -> dict[str, Any]:
    y = held[LABEL].to_numpy()
    return {g.removeprefix("_group_"): fairness_audit(proba, held[g], labels=y) for g in groups}


def _label_text(cfg: ModelConfig) -> str:
    return f"{cfg.label} == {cfg.positive!r}" if cfg.positive is not None else str(cfg.label)


def train_config(
    con: Warehouse,
    cfg: ModelConfig,
    *,
    as_of: dt.datetime | dt.date | str | None = None,
    registry: ModelRegistry | None = None,
    margin: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a config's model, evaluate it on the holdout, register it and promote it through the gate."""
    from models_ml.pipeline import resolve_as_of, train_model

    registry = registry or registry_for(cfg)
    margin = cfg.margin if margin is None else margin
    if cfg.kind == "lead_score":
        return {"config": cfg.name, **train_model(con, as_of=as_of, registry=registry, margin=margin, seed=seed)}
    as_of_dt = resolve_as_of(as_of, con) if cfg.kind == "churn" else None
    prep = prepare_churn(con, cfg, as_of_dt) if cfg.kind == "churn" else prepare_table(con, cfg, seed)
    train_df = prep.frame.filter(pl.Series(~prep.holdout))
    held = prep.frame.filter(pl.Series(prep.holdout))
    model = train(
        train_df,
        LABEL,
        feature_columns=prep.features,
        time_column=prep.time_column,
        refit=True,
        params=cfg.params or None,
        seed=seed,
    )
    compare = {k: v for k, v in prep.baselines.items() if v is not None}
    report = evaluate(model, held, LABEL, compare=compare)
    report["holdout"] = prep.split["holdout"]
    if prep.baselines:
        report["baselines"] = {
            k: (prep.meta.get("baselines", {}).get(k, k) if v is not None else "not available")
            for k, v in prep.baselines.items()
        }
    if prep.groups:
        by = _audits(model.predict(held), held, prep.groups)
        report["fairness_by_attribute"] = by
        report["fairness"] = next(iter(by.values()))
    if cfg.kind == "table" and cfg.cv_folds >= 2:
        report["cross_validation"] = cross_validate(prep.frame, prep.features, cfg.cv_folds, seed, cfg.params or None)

    current_version, current_auc = registry.current_version(), None
    if current_version is not None:
        try:
            current, _ = registry.load(current_version)
            current_auc = score_metrics(held[LABEL].to_numpy(), current.predict(held))["roc_auc"]
        except ModelError as exc:
            log.warning("current model %s cannot score the holdout (%s)", current_version, exc)
    candidate_auc = report["model"]["roc_auc"]
    promoted, reason = decide_promotion(candidate_auc, current_auc, margin)
    meta = {
        "config": cfg.name,
        "config_path": cfg.path,
        "kind": cfg.kind,
        "as_of": as_of_dt.isoformat() if as_of_dt else None,
        "source": prep.meta.get("table"),
        "label": prep.meta.get("label") or _label_text(cfg),
        "training_window": prep.split,
        "metrics": {"holdout": report},
        "reference_distribution": score_distribution(model.predict(held)),
        "promotion": {"margin": margin, "current_version": current_version, "current_holdout_auc": current_auc},
    }
    mv = registry.save(model, meta)
    if promoted:
        registry.promote(mv.version, reason)
    else:
        registry.record_decision(mv.version, False, reason)
    return {
        "config": cfg.name,
        "model_version": mv.version,
        "promoted": promoted,
        "promotion_reason": reason,
        "current_version": registry.current_version(),
        "report": report,
        "as_of": as_of_dt,
    }


def run_config(
    con: Warehouse,
    cfg: ModelConfig,
    *,
    as_of: dt.datetime | dt.date | str | None = None,
    registry: ModelRegistry | None = None,
    version: str | None = None,
    top_k: int = 3,
) -> dict[str, Any]:
    """Score with the promoted (or given) model and replace the config's scores table."""
    from models_ml.pipeline import resolve_as_of, score_people

    registry = registry or registry_for(cfg)
    if cfg.kind == "lead_score":
        scored = score_people(con, as_of=as_of, registry=registry, version=version)
        return {"config": cfg.name, "table": "main.ml_lead_scores", **scored}
    model, meta = registry.load(version)
    if cfg.kind == "churn":
        as_of_dt = resolve_as_of(as_of, con)
        frame, entity = F.build_churn_features(con, as_of_dt), "person_id"
    else:
        as_of_dt, (frame, _) = None, read_table(con, cfg)
        entity = cfg.entity_key or ""
    scored = score(model, frame, id_column=entity, top_k=top_k)
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    n = write_entity_scores(con, cfg.scores, scored, entity, meta["version"], scored_at)
    s = scored["score"].to_numpy()
    registry.record_score_run(
        {
            "scored_at": scored_at.isoformat(),
            "as_of": as_of_dt.isoformat() if as_of_dt else None,
            "model_version": meta["version"],
            "rows": n,
            "mean_score": float(np.mean(s)) if n else None,
            "distribution": score_distribution(s),
        }
    )
    return {
        "config": cfg.name,
        "table": cfg.scores,
        "model_version": meta["version"],
        "rows": n,
        "mean_score": float(np.mean(s)) if n else None,
        "scores": scored,
    }


def model_meta(registry: ModelRegistry, version: str | None = None) -> tuple[str, dict[str, Any], list[Any]]:
    """(chosen version, its metadata, all versions) for a report."""
    versions = registry.versions()
    if not versions:
        raise ModelError(
            f"no models in {registry.root}: run `outflow score train` (the lead score) or `outflow model train NAME` "
            "first"
        )
    chosen = version or registry.current_version() or versions[-1].version
    meta = next((v.meta for v in versions if v.version == chosen), None)
    if meta is None:
        raise ModelError(f"model version {chosen!r} not found in {registry.root}")
    return chosen, meta, versions
