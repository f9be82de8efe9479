from __future__ import annotations

import json

import pytest

from models_ml import ModelRegistry
from models_ml.errors import ModelError
from models_ml.pipeline import score_people, train_and_score, train_model
from models_ml.store import read_scores


def test_train_and_score_writes_scores_and_registers(small_warehouse, tmp_path):
    con = small_warehouse
    reg = ModelRegistry(tmp_path / "models")
    result = train_and_score(con, registry=reg)
    assert result["promoted"] is True  # first model: nothing to beat
    assert reg.current_version() == result["model_version"]
    assert 0.5 < result["holdout_auc"] <= 1.0
    assert result["truth_auc_model"] is None  # no truth schema here
    scores = read_scores(con)
    assert scores.height == result["rows_scored"] > 0
    assert scores["model_version"].unique().to_list() == [result["model_version"]]
    assert scores["decile"].min() == 1
    assert all(json.loads(r) for r in scores["reason_codes"].head(5))
    meta = reg.versions()[0].meta
    assert meta["training_window"]["holdout_cutoff"] == result["holdout_cutoff"]
    assert meta["metrics"]["holdout"]["model"]["roc_auc"] == result["holdout_auc"]
    # out of time, beside the simple baselines: recency alone and frequency alone
    comparison = meta["metrics"]["holdout"]["comparison"]
    assert 0.0 <= comparison["recency"]["roc_auc"] <= 1.0 and 0.0 <= comparison["frequency"]["roc_auc"] <= 1.0
    assert set(meta["metrics"]["holdout"]["baselines"]) == {"recency", "frequency"}


def test_same_model_again_is_not_promoted(small_warehouse, tmp_path):
    reg = ModelRegistry(tmp_path / "models")
    first = train_model(small_warehouse, registry=reg)
    second = train_model(small_warehouse, registry=reg)  # same data and seed: same holdout AUC
    assert first["promoted"] and not second["promoted"]
    assert reg.current_version() == first["model_version"]
    assert "margin" in second["promotion_reason"]
    assert [h["promoted"] for h in reg.history()] == [True, False]


def test_scoring_without_a_model_fails_clearly_or_trains_the_first(small_warehouse, tmp_path):
    reg = ModelRegistry(tmp_path / "m")
    with pytest.raises(ModelError, match="no promoted model"):
        score_people(small_warehouse, registry=reg)
    first = score_people(small_warehouse, registry=reg, train_if_missing=True)
    assert first["bootstrapped_model"] == reg.current_version() == first["model_version"] and first["rows"] > 0
    again = score_people(small_warehouse, registry=reg, train_if_missing=True)  # a model exists: no training
    assert again["bootstrapped_model"] is None and len(reg.versions()) == 1


def test_compares_with_rule_scores_and_truth(small_warehouse, tmp_path):
    con = small_warehouse
    con.execute("create table main.fct_lead_scores as select person_id, 50.0 as lead_score from main.dim_profiles")
    # a truth schema mapping every person to itself via a crm_id identifier
    con.execute("create schema truth")
    con.execute(
        "create table main.int_identity__identifiers as select 'crm_id' as identifier_type, "
        "person_id as identifier_value, person_id from main.dim_profiles"
    )
    con.execute(
        "create table truth.identifiers as select 'crm_id' as identifier_type, "
        "person_id as identifier_value, 'k' || person_id as person_key from main.dim_profiles"
    )
    con.execute(
        "create table truth.people as select 'k' || person_id as person_key, "
        "person_id in (select person_id from main.fct_events where source = 'order' "
        "and occurred_at > (select max(occurred_at) from main.fct_events) - interval 30 day) as converted "
        "from main.dim_profiles"
    )
    result = train_and_score(con, registry=ModelRegistry(tmp_path / "m"))
    assert result["rule_score_table"] == "fct_lead_scores"
    assert result["truth_people"] > 0
    # the rule score ranks nobody (AUC 0.5, deterministic); the model learns the behaviour that precedes orders
    assert result["truth_auc_rule"] == 0.5
    assert result["truth_auc_model"] > result["truth_auc_rule"]
    assert abs(result["truth_auc_model"] - result["holdout_auc"]) < 0.05
