"""The ML features and the score store give the same results on DuckDB and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models_ml import ModelRegistry
from models_ml.features import build_features, build_training_set, latest_event_time
from models_ml.pipeline import train_and_score
from models_ml.store import read_scores, write_scores
from outflow.warehouse import QueryError, Warehouse
from tests.unit.ml.conftest import AS_OF, make_warehouse_tables
from tests.warehouse_fixtures import open_target

CUTOFF = AS_OF - dt.timedelta(days=60)


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_target("duckdb", tmp_path)
    make_warehouse_tables(wh)
    yield wh
    wh.close()


@pytest.fixture
def pg(tmp_path: Path, postgres_url: str) -> Iterator[Warehouse]:
    wh = open_target("postgres", tmp_path, postgres_url)
    make_warehouse_tables(wh)
    yield wh
    wh.close()


def test_features_are_the_same_on_both_targets(duck: Warehouse, pg: Warehouse) -> None:
    assert latest_event_time(pg) == latest_event_time(duck)
    on_duck = build_features(duck, CUTOFF).sort("person_id")
    on_pg = build_features(pg, CUTOFF).sort("person_id")
    assert on_pg.height > 0 and "pricing_views_30d" in on_pg.columns
    assert_frame_equal(on_pg, on_duck)
    cutoffs = [CUTOFF - dt.timedelta(days=30), CUTOFF]
    assert_frame_equal(
        build_training_set(pg, cutoffs).sort("cutoff", "person_id"),
        build_training_set(duck, cutoffs).sort("cutoff", "person_id"),
    )


def test_train_and_score_on_postgres_matches_duckdb(duck: Warehouse, pg: Warehouse, tmp_path: Path) -> None:
    on_pg = train_and_score(pg, registry=ModelRegistry(tmp_path / "pg"))
    on_duck = train_and_score(duck, registry=ModelRegistry(tmp_path / "duck"))
    assert on_pg["promoted"] and on_pg["holdout_auc"] == pytest.approx(on_duck["holdout_auc"])
    scores = read_scores(pg)
    assert scores.height == on_pg["rows_scored"] > 0
    assert scores.schema == read_scores(duck).schema
    assert all(json.loads(r) for r in scores["reason_codes"].head(5))
    cols = ["person_id", "score", "decile"]
    assert_frame_equal(scores.select(cols).sort("person_id"), read_scores(duck).select(cols).sort("person_id"))


def test_score_store_replaces_in_one_transaction(pg: Warehouse) -> None:
    assert read_scores(pg).height == 0  # no table yet: an empty frame of the right shape
    first = pl.DataFrame({"person_id": ["a", "b"], "score": [0.9, 0.1], "decile": [1, 10], "reason_codes": ["[]"] * 2})
    assert write_scores(pg, first, "v1") == 2
    assert write_scores(pg, first.head(1), "v2") == 1
    assert read_scores(pg).select("person_id", "model_version").rows() == [("a", "v2")]
    with pytest.raises(QueryError):  # a failed write leaves the previous scores in place
        write_scores(pg, first.with_columns(person_id=pl.lit(None, pl.String)), "v3")
    assert read_scores(pg).select("person_id", "model_version").rows() == [("a", "v2")]


def test_a_model_config_trains_and_scores_the_same_on_both_targets(tmp_path: Path, postgres_url: str) -> None:
    """A config over a user's table (UCI Bank Marketing) reads and writes through the warehouse interface."""
    from models_ml.config import ModelConfig
    from models_ml.configured import run_config, train_config
    from tests.unit.ml.test_model_configs import bank_frame

    cfg = ModelConfig(
        name="bank_marketing",
        source={"table": "main.bank_marketing"},
        entity_key="client_id",
        label="y",
        positive="yes",
        exclude=["duration"],
        groups=["marital"],
        cv_folds=0,
    )
    results = {}
    for target in ("duckdb", "postgres"):
        (tmp_path / target).mkdir()
        wh = open_target(target, tmp_path / target, postgres_url if target == "postgres" else None)
        try:
            wh.create_schema("main")
            wh.write_arrow("main.bank_marketing", bank_frame(), mode="replace")
            reg = ModelRegistry(tmp_path / target / "models")
            trained = train_config(wh, cfg, registry=reg)
            run_config(wh, cfg, registry=reg)
            scores = wh.fetch_polars("select client_id, score from main.ml_bank_marketing_scores order by client_id")
            results[target] = (trained["report"]["model"]["roc_auc"], scores)
        finally:
            wh.close()
    assert results["postgres"][0] == pytest.approx(results["duckdb"][0], abs=1e-9)
    assert results["postgres"][1].height == 4521
    assert_frame_equal(results["postgres"][1], results["duckdb"][1], abs_tol=1e-9)
