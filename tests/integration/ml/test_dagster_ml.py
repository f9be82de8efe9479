"""The ML assets run in-process: training metadata (AUC over time), scoring, and the asset checks."""

from __future__ import annotations

import dagster as dg

from orchestration.defs import ml
from orchestration.resources import WarehouseResource


def test_training_and_scoring_assets_materialize(ml_warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("OUTFLOW_MODEL_REGISTRY", str(tmp_path / "models"))
    defs = ml.build_defs()
    lead = {ml.MODEL_KEY, ml.SCORES_KEY}
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and set(a.keys) <= lead]
    resources = {"warehouse": WarehouseResource(path=ml_warehouse.ref)}
    result = dg.materialize([*assets, *defs.asset_checks], resources=resources)
    assert result.success
    by_key = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    model_meta = by_key[ml.MODEL_KEY]
    assert 0.5 < model_meta["holdout_auc"].value <= 1.0  # plotted over materializations in the UI
    assert model_meta["promoted"].value is True
    assert "calibration" in model_meta and "report" in model_meta
    assert by_key[ml.SCORES_KEY]["rows"].value > 0
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["score_null_rate"].passed
    assert checks["score_distribution_drift"].passed  # first run: nothing to compare with

    # the daily scoring again: same data, same model, so no drift against the previous run
    scoring = [a for a in assets if ml.SCORES_KEY in a.keys]
    again = dg.materialize([*scoring, *defs.asset_checks], resources=resources, selection=[ml.SCORES_KEY])
    drift = next(c for c in again.get_asset_check_evaluations() if c.check_name == "score_distribution_drift")
    assert drift.passed and drift.metadata["psi"].value < 0.01


def test_schedules_weekly_training_daily_scoring():
    defs = ml.build_defs()
    crons = {s.name: s.cron_schedule for s in defs.schedules}
    assert crons == {"ml_training_weekly": "0 3 * * 1"}
    # daily scoring is a step of the daily job, which leaves the training to its weekly schedule
    from orchestration.definitions import build_definitions

    full = build_definitions()
    daily = full.resolve_job_def("outflow_daily")
    assert {s.name: s.cron_schedule for s in full.schedules}["outflow_daily_schedule"] == "0 5 * * *"
    selected = daily.asset_layer.selected_asset_keys
    assert ml.SCORES_KEY in selected and ml.MODEL_KEY not in selected


def test_one_asset_per_model_config_trains_and_scores(ml_warehouse, tmp_path, monkeypatch):
    """The churn config (models_ml/configs/churn.yml) and a user's config each get a thin asset."""
    monkeypatch.setenv("OUTFLOW_MODEL_REGISTRY", str(tmp_path / "models"))
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "profiles_customer.yml").write_text(
        "name: profiles_customer\nsource: {dbt_model: dim_profile_traits}\nentity_key: person_id\n"
        "label: lifecycle_stage\npositive: customer\nfeatures: [web_events_30d, pricing_views_30d, email_opens_30d]\n"
    )
    monkeypatch.setenv("OUTFLOW_MODEL_CONFIGS", str(configs))
    defs = ml.build_defs()
    churn_key, user_key = dg.AssetKey(["ml", "churn_model"]), dg.AssetKey(["ml", "profiles_customer_model"])
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and set(a.keys) & {churn_key, user_key}]
    user_asset = next(a for a in assets if user_key in a.keys)
    assert len(assets) == 2 and dg.AssetKey(["dim_profile_traits"]) in user_asset.dependency_keys
    result = dg.materialize(assets, resources={"warehouse": WarehouseResource(path=ml_warehouse.ref)})
    assert result.success
    by_key = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    churn = by_key[churn_key]
    assert churn["holdout"].value == "out of time" and churn["promoted"].value is True
    assert "recency_auc" in churn and "frequency_auc" in churn and churn["rows_scored"].value > 0
    assert by_key[user_key]["scores_table"].value == "main.ml_profiles_customer_scores"
