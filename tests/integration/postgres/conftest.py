"""The parity builds (test_parity.py), shared by every PostgreSQL module that needs the demo built on both
engines: one build of each per test session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from outflow import settings
from outflow.build import PG_ENV, DbtRun
from outflow.contract import GATING_TABLES
from outflow.load import LoadResult, dataset_as_of, load_directory
from outflow.pipeline import build, generate_and_load
from outflow.warehouse import connect
from tests.conftest import DEMO_PEOPLE, DEMO_SEED


def _manifest() -> dict:
    return json.loads((settings.dbt_target_dir() / "manifest.json").read_text())


def _database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class Builds:
    warehouse: Path
    pg_url: str
    duckdb_run: DbtRun
    postgres_run: DbtRun
    manifest: dict
    as_of: str | None
    python_models: list[str]
    loads: tuple[LoadResult, LoadResult]  # duckdb, postgres
    pg_as_of: str | None


def _postgres_env(mp: pytest.MonkeyPatch, url: str) -> None:
    mp.setenv("OUTFLOW_TARGET", "postgres")
    mp.setenv("OUTFLOW_POSTGRES_URL", url)
    for var in PG_ENV.values():  # run_dbt sets these; restore them after the test
        mp.setenv(var, "")


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Builds:
    root = tmp_path_factory.mktemp("parity")
    warehouse, data = root / "outflow.duckdb", root / "data"
    duck_load = generate_and_load(DEMO_PEOPLE, DEMO_SEED, warehouse=warehouse, data_dir=data)
    with connect(warehouse) as con:
        as_of = dataset_as_of(con)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        duckdb_run = build(warehouse=warehouse)
    manifest = _manifest()

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("drop database if exists parity")
        admin.execute("create database parity")
    pg_url = _database_url(postgres_url, "parity")
    python_models = sorted(
        n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model" and n.get("language") == "python"
    )
    with connect(url=pg_url) as pg:
        pg_load = load_directory(pg, data, allow_empty=GATING_TABLES)  # the same files, the real loader
        pg_as_of = dataset_as_of(pg)
    with pytest.MonkeyPatch.context() as mp:
        _postgres_env(mp, pg_url)
        postgres_run = build()  # the phone and identity steps run on PostgreSQL through the warehouse interface
    return Builds(
        warehouse, pg_url, duckdb_run, postgres_run, manifest, as_of, python_models, (duck_load, pg_load), pg_as_of
    )
