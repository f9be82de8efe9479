from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from models_ml import evaluate, fairness_audit, score, train
from models_ml.errors import ModelError
from models_ml.model import deciles

FEATURES = ["visits", "company_size", "industry", "irrelevant"]


def test_train_uses_time_split_and_early_stopping(synthetic):
    model = train(synthetic, "converted", feature_columns=FEATURES, time_column="snapshot")
    info = model.train_info
    assert info["split"] == "time"
    # validation rows are the latest snapshot(s), training rows strictly earlier
    assert info["train_to"] < info["valid_from"]
    assert info["n_valid"] + info["n_train"] == synthetic.height
    assert model.best_iteration < info["num_boost_round"] - 1 or info["valid_auc"] is not None
    assert info["valid_auc"] > 0.75


def test_train_accepts_arrow_and_label_sequence(synthetic):
    table = synthetic.select(FEATURES).to_arrow()
    model = train(table, synthetic["converted"].to_list(), num_boost_round=20)
    assert model.feature_names == FEATURES
    assert model.train_info["split"] == "random"


def test_evaluate_report_beats_noise_and_compares(synthetic):
    train_part = synthetic.filter(pl.col("snapshot") < pl.date(2026, 3, 1))
    holdout = synthetic.filter(pl.col("snapshot") >= pl.date(2026, 3, 1))
    model = train(train_part, "converted", feature_columns=FEATURES, time_column="snapshot")
    report = evaluate(model, holdout, "converted", compare={"rule_based": "rule_score"}, group="country")
    m = report["model"]
    assert 0.75 < m["roc_auc"] <= 1.0
    assert m["pr_auc"] > report["base_rate"]
    assert m["top_decile_lift"] > 1.5
    assert set(report["comparison"]) == {"logistic_baseline", "rule_based"}
    assert m["roc_auc"] > report["comparison"]["rule_based"]["roc_auc"]
    cal = report["calibration"]
    assert len(cal) == 10 and sum(b["n"] for b in cal) == holdout.height
    # calibrated: observed rate rises with predicted probability, and means are close overall
    assert cal[-1]["observed_rate"] > cal[0]["observed_rate"]
    assert abs(np.mean([b["mean_predicted"] for b in cal]) - report["base_rate"]) < 0.08
    assert {g["group"] for g in report["fairness"]["groups"]} == {"US", "DE", "FR"}
    json.dumps(report)  # serialisable for the registry and Dagster metadata


def test_score_deciles_and_reason_codes(synthetic):
    model = train(synthetic, "converted", feature_columns=FEATURES, time_column="snapshot")
    out = score(model, synthetic, id_column="person_id", top_k=2)
    assert out.columns == ["person_id", "score", "decile", "reason_codes"]
    assert out.height == synthetic.height
    assert out["decile"].min() == 1 and out["decile"].max() == 10
    top = out.filter(pl.col("decile") == 1)["score"].min()
    assert top >= out.filter(pl.col("decile") == 2)["score"].max()
    # reason codes are xgboost's own contributions: the bias plus all contributions is the log-odds
    row = out.sort("score", descending=True).row(0, named=True)
    reasons = json.loads(row["reason_codes"])
    assert len(reasons) == 2 and all(r["feature"] in FEATURES for r in reasons)
    assert abs(reasons[0]["contribution"]) >= abs(reasons[1]["contribution"])
    # the irrelevant feature is rarely a top reason
    first = out["reason_codes"].map_elements(lambda s: json.loads(s)[0]["feature"], return_dtype=pl.String)
    assert (first == "irrelevant").mean() < 0.05


def test_reason_contributions_sum_to_log_odds(synthetic):
    raw = train(synthetic, "converted", feature_columns=FEATURES, num_boost_round=30, calibrate=False)
    x = raw.encoding.matrix(synthetic.head(50))
    contribs = raw._predict_matrix(x, contribs=True)
    proba = raw._predict_matrix(x)
    logit = np.log(proba / (1 - proba))
    np.testing.assert_allclose(contribs.sum(axis=1), logit, atol=1e-3)
    # calibrated: the score is the Platt map of that same log-odds, so the reasons still explain it
    model = train(synthetic, "converted", feature_columns=FEATURES, num_boost_round=30)
    cal = model.train_info["calibration"]
    contribs = model._predict_matrix(x, contribs=True)
    proba = model._predict_matrix(x)
    logit = np.log(proba / (1 - proba))
    np.testing.assert_allclose(cal["slope"] * contribs.sum(axis=1) + cal["intercept"], logit, atol=1e-3)


def test_calibration_follows_the_latest_period_base_rate():
    """Training periods with a drifting base rate: the calibrated model's mean score on a new period
    at the latest rate is close to it, and closer (lower Brier) than the uncalibrated model's."""
    rng = np.random.default_rng(7)
    frames = []
    for period, shift in enumerate([-2.2, -1.8, -1.4, -1.0, -0.6]):  # base rate rises period by period
        n = 4000
        x1 = rng.normal(size=n)
        label = rng.random(n) < 1 / (1 + np.exp(-(shift + 1.2 * x1)))
        frames.append(pl.DataFrame({"x1": x1, "noise": rng.normal(size=n), "t": period, "y": label}))
    history = pl.concat(frames[:4])
    latest = frames[4]
    y = latest["y"].cast(pl.Float64).to_numpy()
    for refit in (False, True):  # the pipeline refits on all periods before calibrating
        kw = {"feature_columns": ["x1", "noise"], "time_column": "t", "baseline": False, "refit": refit}
        p_cal = train(history, "y", **kw).predict(latest)
        p_raw = train(history, "y", calibrate=False, **kw).predict(latest)
        assert np.mean((p_cal - y) ** 2) < np.mean((p_raw - y) ** 2)
        # the validation period (t=3) sits between the pooled rate and the new one
        assert abs(p_cal.mean() - y.mean()) < abs(p_raw.mean() - y.mean())


def test_unknown_category_at_scoring_is_missing_not_error(synthetic):
    model = train(synthetic, "converted", feature_columns=FEATURES, num_boost_round=20)
    new = synthetic.head(5).with_columns(pl.lit("never-seen").alias("industry"))
    assert score(model, new)["score"].is_not_null().all()


def test_deciles_top_is_one():
    d = deciles(np.arange(100, dtype=float))
    assert d[99] == 1 and d[0] == 10 and np.bincount(d)[1:].tolist() == [10] * 10


def test_bad_input_is_one_clear_error(synthetic):
    with pytest.raises(ModelError, match="label column 'nope'"):
        train(synthetic, "nope")
    with pytest.raises(ModelError, match="single class"):
        train(synthetic.with_columns(pl.lit(False).alias("converted")), "converted")
    with pytest.raises(ModelError, match="must be 0/1"):
        train(synthetic.select("visits"), [2] * synthetic.height)
    model = train(synthetic, "converted", feature_columns=FEATURES, num_boost_round=5)
    with pytest.raises(ModelError, match="lacks column"):
        score(model, synthetic.drop("visits"))


def test_fairness_four_fifths():
    rng = np.random.default_rng(1)
    groups = np.array(["a"] * 500 + ["b"] * 500 + ["c"] * 10)
    fair = fairness_audit(rng.random(1010), groups)
    assert fair["passes"], fair
    biased = np.concatenate([rng.random(500) + 0.5, rng.random(500), rng.random(10)])
    audit = fairness_audit(biased, groups)
    assert not audit["passes"] and audit["failing_groups"] == ["b"]
    small = next(g for g in audit["groups"] if g["group"] == "c")
    assert small["judged"] is False


def test_fairness_small_gap_in_small_groups_is_not_a_failure():
    # group b's selection rate is 0.7 x a's, but with 40 people each that is within chance
    scores = np.array([1.0] * 10 + [0.0] * 30 + [1.0] * 7 + [0.0] * 33)
    groups = ["a"] * 40 + ["b"] * 40
    audit = fairness_audit(scores, groups, selection_fraction=0.2)
    b = next(g for g in audit["groups"] if g["group"] == "b")
    assert b["impact_ratio"] < 0.8 and b["p_value_vs_highest"] > 0.05 and audit["passes"]


def test_fairness_unknown_group_is_reported_not_judged():
    scores = np.concatenate([np.linspace(0.5, 1, 200), np.zeros(200)])
    audit = fairness_audit(scores, ["US"] * 200 + [None] * 200)
    unknown = next(g for g in audit["groups"] if g["group"] == "(unknown)")
    assert unknown["selection_rate"] == 0 and unknown["judged"] is False and audit["passes"]


def _two_groups(rng, n: int = 4000, bias: float = 1.0):
    """Group a converts at ~30%, group b at ~10%; each person's score is their true probability (times
    `bias` for group b)."""
    group = np.array(["a"] * n + ["b"] * n)
    p = np.concatenate([rng.beta(3, 7, n), rng.beta(1, 9, n)])
    y = (rng.random(2 * n) < p).astype(float)
    score = np.where(group == "b", np.clip(p * bias, 0, 1), p)
    return score, group, y


def test_fairness_base_rates_differ_calibrated_model_is_not_flagged():
    score, group, y = _two_groups(np.random.default_rng(3))
    blind = fairness_audit(score, group)
    assert not blind["passes"] and blind["failing_groups"] == ["b"]  # selection rates alone flag b
    audit = fairness_audit(score, group, labels=y)
    assert audit["outcome_aware"] and audit["status"] == "passes" and audit["passes"] is True, audit
    b = next(g for g in audit["groups"] if g["group"] == "b")
    assert b["below_four_fifths"] and b["calibrated"] and b["base_rate"] < 0.15
    assert audit["equal_opportunity_gap"] > 0.1 and audit["lowest_impact_ratio"] < 0.8
    assert any("accounted for by its lower base rate" in line for line in audit["explanation"])


def test_fairness_biased_model_is_flagged():
    # the same people, but the model halves group b's scores: b converts twice as often as scored
    score, group, y = _two_groups(np.random.default_rng(3), bias=0.5)
    audit = fairness_audit(score, group, labels=y)
    assert audit["status"] == "fails" and audit["failing_groups"] == ["b"], audit
    b = next(g for g in audit["groups"] if g["group"] == "b")
    assert not b["calibrated"] and b["calibration_gap"] > 0.03 and audit["calibration_gap"] == b["calibration_gap"]
    assert {"auc", "tpr", "fpr", "selection_rate", "base_rate", "mean_predicted"} <= set(b)


def test_fairness_without_groups_is_not_judged(synthetic):
    model = train(synthetic, "converted", feature_columns=FEATURES, num_boost_round=5)
    report = evaluate(model, synthetic, "converted")
    assert report["fairness"]["status"] == "not judged" and report["fairness"]["passes"] is None
    assert fairness_audit([0.1] * 10, ["a"] * 10)["status"] == "not judged"
