"""Fixtures of the quality tests: a clean fixture warehouse, copied fresh for each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from outflow.warehouse import Warehouse, connect
from tests.integration.quality import fixtures


@pytest.fixture(scope="session")
def quality_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixtures.build(tmp_path_factory.mktemp("quality") / "template.duckdb")


@pytest.fixture
def quality_db(quality_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(quality_template, path)
    return path


@pytest.fixture
def con(quality_db: Path) -> Iterator[Warehouse]:
    c = connect(quality_db)
    yield c
    c.close()
