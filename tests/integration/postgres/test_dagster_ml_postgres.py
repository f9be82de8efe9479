"""The ML assets on PostgreSQL: the Dagster training and scoring assets of tests/integration/ml/test_dagster_ml.py
(a real in-process materialize: training metadata, scores, the null-rate and drift asset checks, then the daily
scoring again without drift) on a copy of the session's PostgreSQL parity build (conftest.py), the warehouse
resource given its URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo_builds import Builds
from tests.integration.ml.test_dagster_ml import test_training_and_scoring_assets_materialize as ml_assets
from tests.warehouse_fixtures import fresh_database

pytestmark = pytest.mark.postgres


def test_training_and_scoring_assets_materialize_on_postgres(
    builds: Builds, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database(postgres_url, template=builds.pg_url.rsplit("/", 1)[1])
    ml_assets(url, tmp_path, monkeypatch)
