"""Where things live. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

from outflow.errors import OutflowError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
#: The warehouses Outflow runs on (OUTFLOW_TARGET); the first is the default.
TARGETS = ("duckdb", "postgres")


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def warehouse_path() -> Path:
    """The DuckDB file that is the warehouse (OUTFLOW_WAREHOUSE)."""
    return _path("OUTFLOW_WAREHOUSE", PROJECT_ROOT / "warehouse" / "outflow.duckdb")


def data_dir() -> Path:
    """Where generated raw files and ground truth are written (OUTFLOW_DATA_DIR)."""
    return _path("OUTFLOW_DATA_DIR", PROJECT_ROOT / "data")


def target() -> str:
    """The warehouse engine (OUTFLOW_TARGET): duckdb (the default, an embedded file) or postgres."""
    value = os.environ.get("OUTFLOW_TARGET", "").strip().lower() or TARGETS[0]
    if value not in TARGETS:
        raise OutflowError(f"OUTFLOW_TARGET={value!r} is not a known target: set it to one of {', '.join(TARGETS)}")
    return value


def postgres_url() -> str:
    """The PostgreSQL connection URL (OUTFLOW_POSTGRES_URL); the password may instead come from PGPASSWORD."""
    url = os.environ.get("OUTFLOW_POSTGRES_URL", "").strip()
    if not url:
        raise OutflowError(
            "OUTFLOW_TARGET=postgres needs OUTFLOW_POSTGRES_URL: set it to postgresql://user@host:port/dbname "
            "(the password in the URL or in PGPASSWORD)"
        )
    return url
