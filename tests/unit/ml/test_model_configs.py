"""Model configs over a user's own table: the UCI Bank Marketing set (tests/data/bank_marketing) loaded into a
warehouse table, trained, scored and reported through `outflow model ...`; bad configs are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from models_ml import train
from models_ml.config import find_config
from models_ml.configured import cv_folds, registry_for
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


def plain_xgboost_cv_auc(df: pl.DataFrame, folds: np.ndarray) -> float:
    """xgboost's scikit-learn classifier with its defaults (categoricals native), on the same folds."""
    y = (df["y"] == "yes").to_numpy().astype(int)
    x = df.drop("y", "duration", "client_id")
    x = x.with_columns(pl.col(pl.String).cast(pl.Categorical)).to_pandas()
    aucs = []
    for k in np.unique(folds):
        test = folds == k
        clf = xgb.XGBClassifier(tree_method="hist", enable_categorical=True, n_jobs=2, random_state=0)
        clf.fit(x[~test], y[~test])
        aucs.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
    return float(np.mean(aucs))


def test_bank_marketing_trains_runs_and_reports_through_the_cli(env):
    db, _ = env
    runner = CliRunner()
    trained = runner.invoke(app, ["model", "train", "bank_marketing"])
    assert trained.exit_code == 0, trained.stdout
    assert "promoted" in trained.stdout and "cross-validated AUC" in trained.stdout

    cfg = find_config("bank_marketing")
    model, meta = registry_for(cfg).load()
    report = meta["metrics"]["holdout"]
    assert "duration" not in model.feature_names and "client_id" not in model.feature_names
    assert report["holdout"] == "random" and report["n"] == pytest.approx(4521 * 0.2, abs=2)
    cv = report["cross_validation"]
    df = bank_frame()
    folds = cv_folds((df["y"] == "yes").to_numpy().astype(float), cv["folds"], cv["seed"])
    plain = plain_xgboost_cv_auc(df, folds)
    # within 0.01 of plain xgboost or better (early stopping keeps it from overfitting 4.5k rows: here it is
    # ~0.05 better; without `duration` the published models reach about 0.75-0.8)
    assert cv["roc_auc"] >= plain - 0.01, (cv, plain)
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
