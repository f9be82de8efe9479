"""Fixtures of the quality tests: a clean fixture warehouse, copied fresh for each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.sandboxes.testing import make_secret
from activations.sandboxes.webhook import WebhookSandbox
from outflow.warehouse import Warehouse, connect
from tests.integration.quality import fixtures
from tests.warehouse_fixtures import fresh_database


@pytest.fixture(scope="session")
def quality_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixtures.build(tmp_path_factory.mktemp("quality") / "template.duckdb")


@pytest.fixture
def quality_db(quality_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(quality_template, path)
    return path


@pytest.fixture(scope="session")
def quality_pg_template(postgres_url: str) -> str:
    """The fixture warehouse as a PostgreSQL database, copied (CREATE DATABASE ... TEMPLATE) for each test."""
    url = fresh_database(postgres_url)
    with connect(url=url) as wh:
        fixtures.fill(wh)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["duckdb", "postgres"])
def quality_where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fixture warehouse on each target, as ``--warehouse`` takes it: a DuckDB file's path, then the URL of
    a copy on the real PostgreSQL server (reports go beside OUTFLOW_WAREHOUSE, in tmp_path)."""
    if request.param == "duckdb":
        return str(request.getfixturevalue("quality_db"))
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    admin = request.getfixturevalue("postgres_url")
    return fresh_database(admin, template=request.getfixturevalue("quality_pg_template"))


@pytest.fixture
def con(quality_where: str) -> Iterator[Warehouse]:
    """The fixture warehouse on each target: a DuckDB file, then a database on the real PostgreSQL server."""
    c = connect(quality_where)
    yield c
    c.close()


SECRET_ENV = "OUTFLOW_TEST_WEBHOOK_SECRET"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookSandbox]:
    """A webhook sandbox on 127.0.0.1 whose signing secret is in SECRET_ENV (the gate tests' destination)."""
    secret = make_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with WebhookSandbox(secret) as sb:
        yield sb
