from __future__ import annotations

import numpy as np

from models_ml import ModelRegistry, decide_promotion, train


def test_save_load_promote(tmp_path, synthetic):
    reg = ModelRegistry(tmp_path / "models")
    model = train(synthetic, "converted", feature_columns=["visits", "industry"], num_boost_round=20)
    mv = reg.save(model, {"metrics": {"holdout": {"roc_auc": 0.8}}, "training_window": {"cutoffs": ["x"]}})
    assert reg.current_version() is None
    reg.promote(mv.version, "first")
    assert reg.current_version() == mv.version
    loaded, meta = reg.load()
    assert meta["features"] == ["visits", "industry"]
    assert meta["training_window"] == {"cutoffs": ["x"]}
    assert "git_sha" in meta["code_version"]
    np.testing.assert_allclose(loaded.predict(synthetic), model.predict(synthetic), rtol=1e-6)
    np.testing.assert_allclose(loaded.predict_baseline(synthetic), model.predict_baseline(synthetic))
    assert [v.version for v in reg.versions()] == [mv.version]
    assert reg.history()[-1]["promoted"] is True


def test_promotion_gate_margin():
    assert decide_promotion(0.70, None)[0]
    assert decide_promotion(0.71, 0.70, margin=0.005)[0]
    assert not decide_promotion(0.703, 0.70, margin=0.005)[0]
    assert not decide_promotion(0.60, 0.70)[0]
    assert not decide_promotion(None, 0.70)[0]
