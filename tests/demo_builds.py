"""The demo warehouse, built once per test session on each target, and per-test copies of it.

- ``demo_duckdb``: the demo data generated, loaded into a DuckDB file and dbt-built (``built_warehouse`` is its file);
- ``builds``: the same files loaded and built on a database of the session's PostgreSQL server as well (the parity
  suite compares the two);
- ``demo_warehouse`` / ``copy_demo``: a private copy on either target (a copied DuckDB file, or a database made
  from the PostgreSQL build as a template), for tests that write into the demo warehouse.

Tests parametrized with ``TARGETS`` run on both (ids ``[duckdb]`` and ``[postgres]``) and share these builds: no
test builds the demo again."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from outflow import settings
from outflow.build import PG_ENV, DbtRun, run_dbt
from outflow.contract import GATING_TABLES
from outflow.load import LoadResult, dataset_as_of, load_directory
from outflow.pipeline import build, generate_and_load
from outflow.warehouse import POSTGRES_SCHEMES, connect
from tests.warehouse_fixtures import TARGETS, Location, fresh_database

DEMO_PEOPLE = 2000  # the default mix, as `make demo` builds it
DEMO_SEED = 42


@dataclass(frozen=True)
class DuckdbDemo:
    warehouse: Path
    data: Path
    run: DbtRun
    load: LoadResult
    manifest: dict


@pytest.fixture(scope="session")
def demo_duckdb(tmp_path_factory: pytest.TempPathFactory) -> DuckdbDemo:
    root = tmp_path_factory.mktemp("warehouse")
    warehouse, data = root / "outflow.duckdb", root / "data"
    load = generate_and_load(DEMO_PEOPLE, DEMO_SEED, warehouse=warehouse, data_dir=data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        run = build(warehouse=warehouse, unit_tests=True)  # CI runs every dbt unit test, on each engine
    manifest = json.loads((settings.dbt_target_dir() / "manifest.json").read_text())
    return DuckdbDemo(warehouse, data, run, load, manifest)


@pytest.fixture(scope="session")
def built_warehouse(demo_duckdb: DuckdbDemo) -> Path:
    """A DuckDB file with the default synthetic mix loaded and `dbt build` (all models and tests) done."""
    return demo_duckdb.warehouse


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def postgres_env(mp: pytest.MonkeyPatch, url: str) -> None:
    """Name the PostgreSQL database ``url`` in the settings, as a user would (dbt follows them)."""
    mp.setenv("OUTFLOW_TARGET", "postgres")
    mp.setenv("OUTFLOW_POSTGRES_URL", url)
    for var in PG_ENV.values():  # run_dbt sets these; restore them after the test
        mp.setenv(var, "")


def run_dbt_on(args: list[str], warehouse: str | Path, as_of: str | None = None) -> DbtRun:
    """``run_dbt`` on ``warehouse``, a DuckDB file or a PostgreSQL URL (named in the settings, as a user would,
    for the run only)."""
    with pytest.MonkeyPatch.context() as mp:
        if str(warehouse).startswith(POSTGRES_SCHEMES):
            postgres_env(mp, str(warehouse))
            return run_dbt(args, as_of=as_of)
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        return run_dbt(args, warehouse=Path(warehouse), as_of=as_of)


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


@pytest.fixture(scope="session")
def builds(demo_duckdb: DuckdbDemo, postgres_url: str) -> Builds:
    """The DuckDB demo build, and the same generated files loaded and built on PostgreSQL (database ``parity``)."""
    with connect(demo_duckdb.warehouse) as con:
        as_of = dataset_as_of(con)
    manifest = demo_duckdb.manifest
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("drop database if exists parity")
        admin.execute("create database parity")
    pg_url = database_url(postgres_url, "parity")
    python_models = sorted(
        n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model" and n.get("language") == "python"
    )
    with connect(url=pg_url) as pg:
        pg_load = load_directory(pg, demo_duckdb.data, allow_empty=GATING_TABLES)  # the same files, the real loader
        pg_as_of = dataset_as_of(pg)
    with pytest.MonkeyPatch.context() as mp:
        postgres_env(mp, pg_url)
        # the phone and identity steps run on PostgreSQL through the warehouse interface; every unit test runs too
        postgres_run = build(unit_tests=True)
    return Builds(
        demo_duckdb.warehouse,
        pg_url,
        demo_duckdb.run,
        postgres_run,
        manifest,
        as_of,
        python_models,
        (demo_duckdb.load, pg_load),
        pg_as_of,
    )


def copy_duckdb(src: Path, dest: Path) -> None:
    """Copy the DuckDB warehouse file ``src`` to ``dest``, everything checkpointed into the file first."""
    with connect(src) as con:
        con.execute("checkpoint")
    shutil.copy(src, dest)


def copy_demo(request: pytest.FixtureRequest, target: str, dest: Path) -> Location:
    """A private copy of the demo build on ``target``: the DuckDB file (and its WAL) copied into the folder ``dest``,
    or a new database of the session's server made from the PostgreSQL build."""
    if target == "duckdb":
        src = request.getfixturevalue("built_warehouse")
        copy_duckdb(src, dest / src.name)
        return Location("duckdb", path=dest / src.name)
    b: Builds = request.getfixturevalue("builds")
    url = fresh_database(request.getfixturevalue("postgres_url"), template=urlsplit(b.pg_url).path.lstrip("/"))
    return Location("postgres", url=url)


@pytest.fixture(params=TARGETS)
def demo_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """This test's own copy of the demo build, on each target."""
    return copy_demo(request, request.param, tmp_path)


@pytest.fixture(params=TARGETS)
def demo_built(request: pytest.FixtureRequest) -> str:
    """The session's demo build itself on each target (the DuckDB file, the PostgreSQL URL), for tests that only
    read it; a test that writes takes ``demo_warehouse``, its own copy."""
    if request.param == "duckdb":
        return str(request.getfixturevalue("built_warehouse"))
    return request.getfixturevalue("builds").pg_url
