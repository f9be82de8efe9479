"""Models in Dagster: the lead score (weekly training, daily scoring in `outflow_daily`, drift and
null-rate checks) and one asset per other model config (models_ml/configs/ and OUTFLOW_MODEL_CONFIGS).

Thin wiring over models_ml; every step is also `outflow score train|run` or `outflow model train|run NAME`
on the command line.
"""

import json

import dagster as dg

from models_ml.config import ModelConfig, load_configs
from models_ml.configured import registry_for, run_config, train_config
from models_ml.evaluation import population_stability_index
from models_ml.pipeline import score_people, train_model
from models_ml.registry import ModelRegistry, registry_root
from models_ml.store import read_scores
from orchestration.defs.schedules import schedule
from orchestration.resources import WAREHOUSE_POOL, WAREHOUSE_RUN_TAGS, WarehouseResource

MODEL_KEY = dg.AssetKey(["ml", "lead_score_model"])
# the same key dagster-dbt gives the dbt source `ml.ml_lead_scores`, so dbt models that read it
# (int_lead_scores__predictive → fct_lead_scores) show up downstream of the scoring asset
SCORES_KEY = dg.AssetKey(["ml", "ml_lead_scores"])
FEATURE_INPUTS = [dg.AssetKey(["fct_events"]), dg.AssetKey(["dim_profiles"]), dg.AssetKey(["dim_profile_history"])]
RULE_SCORES = dg.AssetKey(["fct_lead_scores_backtest"])

DRIFT_PSI_WARN = 0.25  # PSI above 0.25 is the usual "major shift" line
NULL_RATE_MAX = 0.0  # every scored person must have a score


class TrainConfig(dg.Config):
    as_of: str = ""  # empty: the loaded dataset's as-of date, else the latest event
    margin: float = 0.005  # promotion gate: holdout AUC gain over the current model


class ScoreConfig(dg.Config):
    as_of: str = ""
    version: str = ""  # empty: the promoted model


def _registry(warehouse: WarehouseResource) -> ModelRegistry:
    return ModelRegistry(registry_root(warehouse.file()))


def config_key(cfg: ModelConfig) -> dg.AssetKey:
    return dg.AssetKey(cfg.asset)


def _config_deps(cfg: ModelConfig) -> list[dg.AssetKey]:
    if cfg.kind == "churn":
        return FEATURE_INPUTS
    return [dg.AssetKey([cfg.source.dbt_model])] if cfg.source and cfg.source.dbt_model else []


def config_asset(cfg: ModelConfig) -> dg.AssetsDefinition:
    """One asset per model config: train through the promotion gate, then score with the promoted model."""

    @dg.asset(
        key=config_key(cfg),
        deps=_config_deps(cfg),
        group_name="ml",
        owners=["team:data-science"],
        pool=WAREHOUSE_POOL,
        description=f"Model config {cfg.name!r} ({cfg.kind}, {cfg.path}): trains, evaluates on its holdout beside "
        f"its baselines, promotes through the gate, and scores into {cfg.scores}.",
    )
    def _model(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        registry = registry_for(cfg, registry_root(warehouse.file()))
        with warehouse.connect() as con:
            trained = train_config(con, cfg, registry=registry)
            scored = run_config(con, cfg, registry=registry)
        report = trained["report"]
        context.log.info("model %s: %s", trained["model_version"], trained["promotion_reason"])
        baselines = {
            f"{name}_auc": dg.MetadataValue.float(float(m["roc_auc"]))
            for name, m in report["comparison"].items()
            if m.get("roc_auc") is not None
        }
        cv = report.get("cross_validation")
        return dg.MaterializeResult(
            metadata={
                "holdout_auc": dg.MetadataValue.float(float(report["model"]["roc_auc"] or 0.0)),
                "holdout": dg.MetadataValue.text(report.get("holdout", "")),
                **baselines,
                **({"cv_auc": dg.MetadataValue.float(cv["roc_auc"])} if cv else {}),
                "model_version": dg.MetadataValue.text(trained["model_version"]),
                "promoted": dg.MetadataValue.bool(bool(trained["promoted"])),
                "promotion_reason": dg.MetadataValue.text(trained["promotion_reason"]),
                "fairness": dg.MetadataValue.text(report["fairness"]["status"]),
                "rows_scored": dg.MetadataValue.int(scored["rows"]),
                "scores_table": dg.MetadataValue.text(scored["table"]),
                "report": dg.MetadataValue.json(json.loads(json.dumps(report, default=str))),
            }
        )

    return _model


def build_defs() -> dg.Definitions:
    @dg.asset(
        key=MODEL_KEY,
        deps=[*FEATURE_INPUTS, RULE_SCORES],
        group_name="ml",
        owners=["team:data-science"],
        pool=WAREHOUSE_POOL,
        description="Trains the xgboost lead-score model on point-in-time features, evaluates it on the "
        "holdout against the logistic baseline and the rule-based score, registers it and promotes it "
        "only if it beats the current model by the margin.",
    )
    def lead_score_model(
        context: dg.AssetExecutionContext, config: TrainConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            result = train_model(con, as_of=config.as_of or None, registry=_registry(warehouse), margin=config.margin)
        report = result["report"]
        comparison = report["comparison"]
        fairness = report.get("fairness", {})
        context.log.info("model %s: %s", result["model_version"], result["promotion_reason"])
        calibration = "\n".join(
            ["| bin | n | mean predicted | observed |", "|---|---|---|---|"]
            + [
                f"| {b['bin']} | {b['n']} | {b['mean_predicted']:.3f} | {b['observed_rate']:.3f} |"
                for b in report["calibration"]
            ]
        )
        return dg.MaterializeResult(
            metadata={
                # numeric entries are plotted across materializations: AUC over time
                "holdout_auc": dg.MetadataValue.float(float(report["model"]["roc_auc"] or 0.0)),
                "holdout_pr_auc": dg.MetadataValue.float(float(report["model"]["pr_auc"] or 0.0)),
                "top_decile_lift": dg.MetadataValue.float(float(report["model"]["top_decile_lift"] or 0.0)),
                "logistic_auc": dg.MetadataValue.float(
                    float(comparison.get("logistic_baseline", {}).get("roc_auc") or 0.0)
                ),
                "rule_based_auc": dg.MetadataValue.float(float(comparison.get("rule_based", {}).get("roc_auc") or 0.0)),
                "holdout_rows": dg.MetadataValue.int(report["n"]),
                "model_version": dg.MetadataValue.text(result["model_version"]),
                "promoted": dg.MetadataValue.bool(bool(result["promoted"])),
                "promotion_reason": dg.MetadataValue.text(result["promotion_reason"]),
                "current_version": dg.MetadataValue.text(str(result["current_version"])),
                "fairness": dg.MetadataValue.text(fairness.get("status", "not judged")),
                "fairness_failing_groups": dg.MetadataValue.text(", ".join(fairness.get("failing_groups", []))),
                "calibration": dg.MetadataValue.md(calibration),
                "report": dg.MetadataValue.json(json.loads(json.dumps(report, default=str))),
            }
        )

    @dg.asset(
        key=SCORES_KEY,
        deps=[MODEL_KEY, *FEATURE_INPUTS],
        group_name="ml",
        owners=["team:data-science"],
        pool=WAREHOUSE_POOL,
        description="Scores everyone with the promoted model into main.ml_lead_scores "
        "(score, decile, reason codes, model version).",
    )
    def ml_lead_scores(
        context: dg.AssetExecutionContext, config: ScoreConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            # a fresh deployment trains its first model here rather than fail until the weekly run
            result = score_people(
                con,
                as_of=config.as_of or None,
                registry=_registry(warehouse),
                version=config.version or None,
                train_if_missing=True,
            )
        deciles = result["scores"].group_by("decile").len().sort("decile")
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(result["rows"]),
                "model_version": dg.MetadataValue.text(result["model_version"]),
                "mean_score": dg.MetadataValue.float(float(result["mean_score"] or 0.0)),
                "psi_vs_previous_run": dg.MetadataValue.float(float(result["psi"] or 0.0)),
                "psi_vs_holdout": dg.MetadataValue.float(float(result["psi_vs_holdout"] or 0.0)),
                "people_per_decile": dg.MetadataValue.json(dict(zip(deciles["decile"], deciles["len"], strict=True))),
                "bootstrapped_model": dg.MetadataValue.text(
                    result["bootstrapped_model"] or "no (used the promoted model)"
                ),
            }
        )

    @dg.asset_check(asset=SCORES_KEY, name="score_null_rate", blocking=True)
    def score_null_rate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            scores = read_scores(con)
        if scores.height == 0:
            return dg.AssetCheckResult(passed=False, metadata={"reason": "main.ml_lead_scores is empty"})
        nulls = scores["score"].null_count() + scores["score"].is_nan().sum()
        rate = nulls / scores.height
        return dg.AssetCheckResult(
            passed=rate <= NULL_RATE_MAX,
            metadata={"null_rate": float(rate), "rows": scores.height, "max_allowed": NULL_RATE_MAX},
        )

    @dg.asset_check(asset=SCORES_KEY, name="score_distribution_drift")
    def score_distribution_drift(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """PSI of the current scores against the previous scoring run's (WARN above 0.25)."""
        with warehouse.connect() as con:
            scores = read_scores(con)
        if scores.height == 0:
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"reason": "no scores"}
            )
        current_at = scores["scored_at"][0].isoformat()
        earlier = [r for r in _registry(warehouse).score_runs() if r["scored_at"] < current_at]
        if not earlier:
            return dg.AssetCheckResult(
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"reason": "first scoring run: nothing to compare with"},
            )
        reference = earlier[-1]
        psi = population_stability_index(reference["distribution"], scores["score"].to_numpy())
        return dg.AssetCheckResult(
            passed=psi is not None and psi <= DRIFT_PSI_WARN,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "psi": float(psi if psi is not None else -1.0),
                "threshold": DRIFT_PSI_WARN,
                "model_version": scores["model_version"][0],
                "previous_run": reference["scored_at"],
                "previous_model_version": reference["model_version"],
                "mean_score": float(scores["score"].mean() or 0.0),
            },
        )

    training_job = dg.define_asset_job(
        "ml_training", selection=dg.AssetSelection.assets(MODEL_KEY), tags=WAREHOUSE_RUN_TAGS
    )
    scoring_job = dg.define_asset_job(
        "ml_scoring", selection=dg.AssetSelection.assets(SCORES_KEY), tags=WAREHOUSE_RUN_TAGS
    )
    configs = [cfg for cfg in load_configs() if cfg.kind != "lead_score"]  # the lead score has its assets above
    configured = [config_asset(cfg) for cfg in configs]
    models_job = dg.define_asset_job(
        "ml_models", selection=dg.AssetSelection.assets(*[config_key(c) for c in configs]), tags=WAREHOUSE_RUN_TAGS
    )
    return dg.Definitions(
        assets=[lead_score_model, ml_lead_scores, *configured],
        asset_checks=[score_null_rate, score_distribution_drift],
        jobs=[training_job, scoring_job, models_job],
        # Weekly training on Monday night. Daily scoring is a step of `outflow_daily` (05:00), between the
        # dbt models it reads and the marts, segments and syncs that read its scores; `ml_scoring` is the
        # same asset on its own, for a manual re-score.
        schedules=[schedule("ml_training_weekly", training_job, "0 3 * * 1")],
    )
