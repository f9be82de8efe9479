from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def ml_warehouse(built_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the built warehouse: these tests write main.ml_lead_scores and a registry."""
    target = tmp_path_factory.mktemp("ml") / "outflow.duckdb"
    shutil.copy(built_warehouse, target)
    # dbt (run in this process) may still hold the file open with changes in its write-ahead log
    wal = built_warehouse.with_name(built_warehouse.name + ".wal")
    if wal.exists():
        shutil.copy(wal, target.with_name(target.name + ".wal"))
    return target
