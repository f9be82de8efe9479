"""Shared fixtures: one real warehouse, generated and built with dbt once per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.demo_builds import (  # noqa: F401  (fixtures for every directory; the demo is built once per session)
    DEMO_PEOPLE,
    DEMO_SEED,
    builds,
    built_warehouse,
    demo_built,
    demo_duckdb,
    demo_warehouse,
)

# A pytest-xdist worker runs under execnet's `python -c` bootstrap, whose __main__ has neither __spec__ nor
# __file__. pyspark.sql.connect, which Great Expectations imports whenever pyspark is installed, takes that for a
# doctest run and calls sys.exit(0) on import. Naming the worker's main module keeps GX importable in the workers.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

# CLI commands record what they materialize in the Dagster instance (orchestration/history.py); tests that check
# it turn it on with a DAGSTER_HOME of their own, the others leave the project's instance alone
os.environ.setdefault("OUTFLOW_DAGSTER_HISTORY", "0")

# `make test` runs the suite on parallel workers (pytest-xdist): each worker's dbt runs write their manifest and
# logs to a folder of their own, so that two builds never write the same dbt artifacts at once
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("DBT_TARGET_PATH", f"target/{worker}")
    os.environ.setdefault("DBT_LOG_PATH", str(Path(__file__).resolve().parents[1] / "dbt_project" / "logs" / worker))


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadfile` keeps a file's tests on one worker; the Spark tests (tests/integration/spark) go to one
    worker together, so that the suite starts one JVM and builds the demo on Spark once."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SparkTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/integration/spark/"):
                return "tests/integration/spark"
            return super()._split_scope(nodeid)

    return SparkTogether(config, log)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server (Debian's package) on 127.0.0.1, owned by this test run and removed after it."""
    from outflow.local_postgres import LocalPostgres

    with LocalPostgres() as pg:
        yield pg.url
