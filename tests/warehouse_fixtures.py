"""Helpers for tests that run on both warehouse targets: a fresh PostgreSQL database per test on the session's
server (``postgres_url`` in tests/conftest.py), and roles with fewer rights than the test-run owner."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from outflow.warehouse import Warehouse, connect

_n = itertools.count()


def with_database(url: str, dbname: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + dbname


def fresh_database(admin_url: str, template: str | None = None) -> str:
    """Create an empty database (or a copy of ``template``) on the server; return its URL."""
    name = f"t{os.getpid()}_{next(_n)}"
    with connect(url=admin_url) as admin:
        admin.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    return with_database(admin_url, name)


def open_target(target: str, tmp_path: Path, postgres_url: str | None = None) -> Warehouse:
    """A new empty warehouse of the given target."""
    if target == "duckdb":
        return connect(tmp_path / "wh.duckdb")
    assert postgres_url is not None
    return connect(url=fresh_database(postgres_url))


#: Parametrize a fixture with these to run its tests on both targets (``-m "not postgres"`` leaves PostgreSQL out).
TARGETS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class Location:
    """A test's own warehouse, to open again (``connect()``) or to point the ``outflow`` command at (``env()``)."""

    target: str
    path: Path | None = None
    url: str | None = None

    def connect(self) -> Warehouse:
        return connect(self.path) if self.path is not None else connect(url=self.url)

    @property
    def ref(self) -> str:
        """The warehouse as ``--warehouse`` and ``WarehouseResource(path=...)`` take it: the file, or the URL."""
        return str(self.path) if self.path is not None else str(self.url)

    def env(self) -> dict[str, str]:
        """The settings that name this warehouse, as a user would set them."""
        if self.path is not None:
            return {"OUTFLOW_TARGET": "duckdb", "OUTFLOW_WAREHOUSE": str(self.path)}
        assert self.url is not None
        return {"OUTFLOW_TARGET": "postgres", "OUTFLOW_POSTGRES_URL": self.url}


def new_location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """An empty warehouse for the target in ``request.param``: a DuckDB temp file, or a fresh database on the
    session's PostgreSQL server (each test its own, so tests never see each other's tables)."""
    if request.param == "duckdb":
        return Location("duckdb", path=tmp_path / "wh.duckdb")
    return Location("postgres", url=fresh_database(request.getfixturevalue("postgres_url")))
