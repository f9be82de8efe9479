"""On the demo data, PostgreSQL judges and scores as DuckDB does: every quality check (raw tables, profiles,
activation models) gives the same verdict with the same failed-row count, and the lead-score model trains,
passes the same promotion gate and scores the same people, with AUCs close to DuckDB's. Both run on copies of
the session's parity builds (conftest.py), so the parity comparison never sees the scores or check results."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_quality.runner import run_checks
from models_ml import ModelRegistry
from models_ml.pipeline import train_and_score
from models_ml.store import read_scores
from outflow.warehouse import Warehouse, connect
from tests.demo_builds import Builds
from tests.warehouse_fixtures import fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def both(builds: Builds, postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Warehouse]]:
    root = tmp_path_factory.mktemp("verdicts")
    for src in builds.warehouse.parent.glob(builds.warehouse.name + "*"):  # the file and its WAL
        shutil.copy(src, root / src.name)
    duck = connect(root / builds.warehouse.name)
    pg = connect(url=fresh_database(postgres_url, template=builds.pg_url.rsplit("/", 1)[1]))
    yield {"duckdb": duck, "postgres": pg}
    duck.close()
    pg.close()


def test_quality_checks_give_the_same_verdicts(both: dict[str, Warehouse]) -> None:
    verdicts = {}
    for target, wh in both.items():
        run = run_checks(wh, "all", report=False)
        verdicts[target] = {r.check_id: (r.status, r.failed_count, r.element_count) for r in run.results}
    duck, pg = verdicts["duckdb"], verdicts["postgres"]
    assert len(duck) > 50 and any(s == "passed" for s, _, _ in duck.values())
    assert not [k for k, (s, _, _) in pg.items() if s == "error"]  # every check ran on PostgreSQL
    assert pg.keys() == duck.keys()
    differ = {k: (duck[k], pg[k]) for k in duck if duck[k] != pg[k]}
    assert not differ, differ  # check id: (DuckDB's verdict, PostgreSQL's)


def test_lead_score_trains_and_scores_as_on_duckdb(both: dict[str, Warehouse], tmp_path: Path) -> None:
    out = {t: train_and_score(wh, registry=ModelRegistry(tmp_path / t)) for t, wh in both.items()}
    duck, pg = out["duckdb"], out["postgres"]
    assert pg["promoted"] == duck["promoted"]
    assert pg["rows_scored"] == duck["rows_scored"] > 100
    assert pg["holdout_auc"] == pytest.approx(duck["holdout_auc"], abs=0.01)
    assert pg["rule_auc_holdout"] == pytest.approx(duck["rule_auc_holdout"], abs=1e-9)  # the same dbt scores
    scored = {t: read_scores(wh) for t, wh in both.items()}
    assert set(scored["postgres"]["person_id"]) == set(scored["duckdb"]["person_id"])
