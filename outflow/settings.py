"""Where things live. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def warehouse_path() -> Path:
    """The DuckDB file that is the warehouse (OUTFLOW_WAREHOUSE)."""
    return _path("OUTFLOW_WAREHOUSE", PROJECT_ROOT / "warehouse" / "outflow.duckdb")


def data_dir() -> Path:
    """Where generated raw files and ground truth are written (OUTFLOW_DATA_DIR)."""
    return _path("OUTFLOW_DATA_DIR", PROJECT_ROOT / "data")
