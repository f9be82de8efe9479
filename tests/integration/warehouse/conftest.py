from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from outflow.warehouse import Warehouse
from tests.warehouse_fixtures import open_target


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse: a DuckDB temp file, then a fresh database on the real PostgreSQL server."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    w = open_target(request.param, tmp_path, url)
    yield w
    w.close()
