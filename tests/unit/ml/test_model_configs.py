"""Model configs over a user's own table: the UCI Bank Marketing set (tests/data/bank_marketing) loaded into a
warehouse table, trained, scored and reported through `outflow model ...`; bad configs are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from typer.testing import CliRunner

from models_ml import train
from models_ml.config import find_config
from models_ml.configured import cv_folds, registry_for
from models_ml.model import DEFAULT_PARAMS, EARLY_STOPPING_ROUNDS
from outflow.cli import app
from outflow.warehouse import connect

BANK = Path(__file__).resolve().parents[2] / "data" / "bank_marketing" / "bank.csv"
CONFIG = """\
name: bank_marketing
source: {table: main.bank_marketing}
entity_key: client_id
label: y
positive: "yes"
exclude: [duration]
groups: [marital, age]
"""


def bank_frame() -> pl.DataFrame:
    df = pl.read_csv(BANK, separator=";")
    return df.with_columns(pl.format("c{}", pl.int_range(pl.len())).alias("client_id"))


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """A DuckDB warehouse holding main.bank_marketing, and a folder with its model config."""
    root = tmp_path_factory.mktemp("bank")
    db = root / "wh.duckdb"
    with connect(db) as con:
        con.create_schema("main")
        con.write_arrow("main.bank_marketing", bank_frame(), mode="replace")
    configs = root / "configs"
    configs.mkdir()
    (configs / "bank_marketing.yml").write_text(CONFIG)
    return db, configs


@pytest.fixture()
def env(bank, tmp_path, monkeypatch):
    db, configs = bank
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(db))
    monkeypatch.setenv("OUTFLOW_MODEL_CONFIGS", str(configs))
    monkeypatch.setenv("OUTFLOW_MODEL_REGISTRY", str(tmp_path / "models"))
    return db, configs


def plain_xgboost_cv_auc(df: pl.DataFrame, features: list[str], folds: np.ndarray, same_settings: bool) -> float:
    """xgboost's own scikit-learn classifier, on the same folds and the same feature matrix (the model's columns
    read straight from the CSV, strings as pandas categoricals, which xgboost handles natively), without any of
    models_ml. `same_settings=False`: xgboost's defaults (100 trees, no early stopping). `same_settings=True`:
    the hyperparameters models_ml uses and the usual way to pick the number of trees: early stopping on a
    stratified 20% of the training fold, then a refit on the whole training fold with that many trees."""
    y = (df["y"] == "yes").to_numpy().astype(int)
    x = df.select(features).with_columns(pl.col(pl.String).cast(pl.Categorical)).to_pandas()
    params = {k: v for k, v in DEFAULT_PARAMS.items() if k not in ("nthread", "tree_method")} if same_settings else {}
    common = {"enable_categorical": True, "n_jobs": 2, "random_state": 0, "tree_method": "hist"}
    aucs = []
    for k in np.unique(folds):
        test = folds == k
        xt, yt = x[~test], y[~test]
        if same_settings:
            xa, xv, ya, yv = train_test_split(xt, yt, test_size=0.2, stratify=yt, random_state=0)
            stop = xgb.XGBClassifier(
                **params, **common, n_estimators=400, early_stopping_rounds=EARLY_STOPPING_ROUNDS
            ).fit(xa, ya, eval_set=[(xv, yv)], verbose=False)
            clf = xgb.XGBClassifier(**params, **common, n_estimators=stop.best_iteration + 1)
        else:
            clf = xgb.XGBClassifier(**common)
        clf.fit(xt, yt)
        aucs.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
    return float(np.mean(aucs))


def _recorded(home: Path, key: list[str]) -> dict[str, object]:
    """The metadata of the latest materialization of ``key`` in the Dagster instance at ``home``."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
        assert event is not None, key
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_bank_marketing_trains_runs_and_reports_through_the_cli(env, tmp_path, monkeypatch):
    db, _ = env
    home = tmp_path / "dagster_home"  # the one history: each command records the config's Dagster asset
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("OUTFLOW_DAGSTER_HISTORY", "1")
    runner = CliRunner()
    trained = runner.invoke(app, ["model", "train", "bank_marketing"])
    assert trained.exit_code == 0, trained.stdout
    assert "promoted" in trained.stdout and "cross-validated AUC" in trained.stdout

    cfg = find_config("bank_marketing")
    from orchestration.defs.ml import config_key

    assert config_key(cfg).path == cfg.asset == ["ml", "bank_marketing_model"]
    recorded = _recorded(home, cfg.asset)
    assert recorded["by"] == "outflow model" and recorded["promoted"] is True
    model, meta = registry_for(cfg).load()
    report = meta["metrics"]["holdout"]
    assert "duration" not in model.feature_names and "client_id" not in model.feature_names
    assert report["holdout"] == "random" and report["n"] == pytest.approx(4521 * 0.2, abs=2)
    cv = report["cross_validation"]
    df = bank_frame()
    folds = cv_folds((df["y"] == "yes").to_numpy().astype(float), cv["folds"], cv["seed"])
    features = list(model.feature_names)
    same = plain_xgboost_cv_auc(df, features, folds, same_settings=True)
    defaults = plain_xgboost_cv_auc(df, features, folds, same_settings=False)
    print(
        f"cross-validated AUC: model config {cv['roc_auc']:.4f}; plain xgboost, same settings {same:.4f}, "
        f"xgboost defaults {defaults:.4f}"
    )
    # the machinery (reading the table, encoding, label, feature selection) costs nothing: within 0.01 of plain
    # xgboost trained the same way on the same folds and columns, either way
    assert abs(cv["roc_auc"] - same) <= 0.01, (cv, same)
    # and no worse than xgboost's defaults (100 trees, no early stopping), which overfit 4.5k rows
    assert cv["roc_auc"] >= defaults - 0.01, (cv, defaults)
    assert cv["roc_auc"] > 0.72

    # outcome-aware fairness on both declared attributes (age banded into quartiles)
    fair = report["fairness_by_attribute"]
    assert set(fair) == {"marital", "age"} and fair["marital"]["outcome_aware"]
    # marital groups differ in base rate (single ~0.14, married ~0.10): a calibrated model is not flagged
    assert fair["marital"]["status"] == "passes" and fair["age"]["status"] == "passes"
    assert len(fair["age"]["groups"]) == 4 and {g["group"] for g in fair["marital"]["groups"]} == {
        "divorced",
        "married",
        "single",
    }

    scored = runner.invoke(app, ["model", "run", "bank_marketing"])
    assert scored.exit_code == 0, scored.stdout
    with connect(db, read_only=True) as con:
        rows = con.fetch_polars("select * from main.ml_bank_marketing_scores")
    assert rows.height == 4521 and rows["client_id"].n_unique() == 4521
    assert rows["score"].is_between(0, 1).all() and rows["reason_codes"].str.contains("feature").all()
    recorded = _recorded(home, cfg.asset)
    assert recorded["rows_scored"] == 4521 and recorded["scores_table"] == "main.ml_bank_marketing_scores"

    shown = runner.invoke(app, ["model", "report", "bank_marketing"])
    assert shown.exit_code == 0, shown.stdout
    assert "fairness by marital" in shown.output and "cross-validated AUC" in shown.output  # titles: stderr

    again = runner.invoke(app, ["model", "train", "bank_marketing"])
    assert again.exit_code == 0 and "not promoted" in again.stdout  # the gate: same model, no margin gained


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ("exclude: [duraton]", "exclude[0]", "column 'duraton' is not in main.bank_marketing (nearest: 'duration')"),
        ('positive: "maybe"', "label", "single class"),
        ("time_column: contacted_on", "time_column", "'contacted_on' has 4521 null values"),
        ("groups: [marital, salary]", "groups[1]", "column 'salary' is not in main.bank_marketing"),
        ("lable: y", "lable", "unknown key"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(env, change, key, message):
    db, configs = env
    with connect(db) as con:
        if "contacted_on" in change and "contacted_on" not in con.columns("main", "bank_marketing"):
            con.execute("alter table main.bank_marketing add column contacted_on date")
    base = CONFIG.replace('positive: "yes"', change) if "positive" in change else CONFIG + change + "\n"
    if change.startswith("exclude"):
        base = CONFIG.replace("exclude: [duration]", change)
    if change.startswith("groups"):
        base = CONFIG.replace("groups: [marital, age]", change)
    path = configs.parent / "bad.yml"
    path.write_text(base.replace("name: bank_marketing", "name: bad"))
    result = CliRunner().invoke(app, ["model", "train", str(path)])
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert f"{path}: {key}" in out and message in out and "Traceback" not in out, result.stdout


def test_bundled_configs_and_built_in_kinds(tmp_path):
    from models_ml.config import load_config, load_configs

    kinds = {c.name: c.kind for c in load_configs()}
    assert kinds["lead_score"] == "lead_score" and kinds["churn"] == "churn"
    bad = tmp_path / "churn_bad.yml"
    bad.write_text("name: churn_bad\nkind: churn\nlabel: y\n")
    with pytest.raises(Exception, match=r"churn_bad.yml: \(top level\): `label` applies to `kind: table` only"):
        load_config(bad)
    listed = CliRunner().invoke(app, ["model", "list"])
    assert listed.exit_code == 0 and "churn" in listed.stdout and "lead_score" in listed.stdout


def test_pandas_and_arrow_inputs_are_accepted():
    df = bank_frame().drop("client_id", "duration")
    feats = [c for c in df.columns if c != "y"]
    label = (df["y"] == "yes").to_numpy()
    from_pandas = train(df.to_pandas(), label, feature_columns=feats, num_boost_round=20, baseline=False)
    from_arrow = train(df.to_arrow(), label, feature_columns=feats, num_boost_round=20, baseline=False)
    assert from_pandas.feature_names == from_arrow.feature_names == feats
    np.testing.assert_allclose(from_pandas.predict(df.to_pandas()), from_arrow.predict(df), rtol=1e-6)


def test_churn_config_out_of_time_against_recency_frequency_and_p_alive(small_warehouse, tmp_path, monkeypatch):
    con = small_warehouse
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "churn30.yml").write_text("name: churn30\nkind: churn\nchurn_window_days: 30\ngroups: [country]\n")
    monkeypatch.setenv("OUTFLOW_MODEL_CONFIGS", str(configs))
    from models_ml.configured import run_config, train_config

    cfg = find_config("churn30")
    reg = registry_for(cfg, tmp_path / "models")
    first = train_config(con, cfg, registry=reg)
    report = first["report"]
    assert report["holdout"] == "out of time" and first["promoted"]
    assert {"recency", "frequency"} <= set(report["comparison"]) and "p_alive" not in report["comparison"]
    assert report["baselines"]["p_alive"] == "not available"
    assert set(report["fairness_by_attribute"]) == {"country"}
    assert report["fairness"]["status"] in ("passes", "fails", "not judged")
    _, meta = reg.load()
    assert meta["training_window"]["valid_from"] > max(meta["training_window"]["training_cutoffs"])

    # with BG/NBD's mart present, P(alive) joins the comparison
    people = con.fetch_polars("select person_id from main.dim_profiles")
    rng = np.random.default_rng(0)
    con.write_arrow(
        "main.ml_customer_value", people.with_columns(pl.Series("p_alive", rng.random(people.height))), mode="replace"
    )
    second = train_config(con, cfg, registry=reg)
    assert "p_alive" in second["report"]["comparison"] and second["report"]["baselines"]["p_alive"].startswith("1 -")

    scored = run_config(con, cfg, registry=reg)
    rows = con.fetch_polars("select * from main.ml_churn30_scores")
    customers = con.fetch_polars(
        "select count(distinct person_id) from main.fct_events where source = 'order' and event_type = 'completed'"
    ).item()
    assert scored["rows"] == rows.height == customers and rows["score"].is_between(0, 1).all()

    from models_ml.cli import verdict_line

    assert "wins" in verdict_line(second["report"])
