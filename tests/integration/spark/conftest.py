"""One Spark build of the demo per test session, shared by every Spark test (marked `spark`).

The demo files that tests/conftest.py's `built_warehouse` generated and built on DuckDB are loaded into a local
Spark (this process's SparkSession, `local[2]`, tables as Parquet in a temp directory) with the real loader, and
the project is built there with the real `dbt build` through dbt-spark's session method
(`outflow.pipeline.build` with OUTFLOW_TARGET=spark: the phone step and the identity step run on Spark too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from outflow.build import DbtRun
from outflow.contract import GATING_TABLES
from outflow.load import LoadResult, load_directory
from outflow.pipeline import build
from outflow.warehouse import connect
from tests.activations_fixtures import sandbox, secret  # noqa: F401  (fixtures for the sync tests)


@dataclass
class SparkBuild:
    duckdb: Path  # the DuckDB build of the same files
    data: Path
    root: Path  # OUTFLOW_SPARK_WAREHOUSE
    load: LoadResult
    run: DbtRun
    seconds: float


def spark_env(mp: pytest.MonkeyPatch, root: Path) -> None:
    """The settings that point Outflow at the test session's local Spark."""
    mp.setenv("OUTFLOW_TARGET", "spark")
    mp.setenv("OUTFLOW_SPARK_WAREHOUSE", str(root))
    mp.delenv("OUTFLOW_SPARK_MASTER", raising=False)


@pytest.fixture(scope="session")
def spark_root(tmp_path_factory: pytest.TempPathFactory):
    """The test session's local Spark (OUTFLOW_SPARK_WAREHOUSE): one per process, stopped at the end."""
    from outflow.warehouse.spark import stop

    try:
        yield tmp_path_factory.mktemp("spark")
    finally:
        stop()


@pytest.fixture(scope="session")
def spark_build(built_warehouse: Path, spark_root: Path):
    root = spark_root
    data = built_warehouse.parent / "data"
    with pytest.MonkeyPatch.context() as mp:
        spark_env(mp, root)
        start = time.perf_counter()
        with connect() as wh:
            loaded = load_directory(wh, data, allow_empty=GATING_TABLES)
        run = build(unit_tests=True)  # every dbt unit test runs on Spark too
        seconds = time.perf_counter() - start
    return SparkBuild(built_warehouse, data, root, loaded, run, seconds)


@pytest.fixture
def on_spark(spark_build: SparkBuild, monkeypatch: pytest.MonkeyPatch) -> SparkBuild:
    """The session's Spark build, with the settings pointing at it for this test."""
    spark_env(monkeypatch, spark_build.root)
    return spark_build
