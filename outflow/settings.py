"""Where things live. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def dbt_target_dir(project_dir: Path | None = None) -> Path:
    """Where dbt writes its manifest and artifacts: DBT_TARGET_PATH (dbt's own setting, relative to the project;
    parallel test workers each get one) or ``target``."""
    return (project_dir or DBT_PROJECT_DIR) / os.environ.get("DBT_TARGET_PATH", "target")


#: The warehouses Outflow runs on (OUTFLOW_TARGET); the first is the default.
TARGETS = ("duckdb", "postgres", "spark")


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


def warehouse_path() -> Path:
    """The DuckDB file that is the warehouse (OUTFLOW_WAREHOUSE)."""
    return _path("OUTFLOW_WAREHOUSE", PROJECT_ROOT / "warehouse" / "outflow.duckdb")


def data_dir() -> Path:
    """Where generated raw files and ground truth are written (OUTFLOW_DATA_DIR)."""
    return _path("OUTFLOW_DATA_DIR", PROJECT_ROOT / "data")


def demo_mode() -> bool:
    """Synthetic data on purpose (OUTFLOW_DEMO=1): only then do the Dagster `raw` assets generate data.

    `make demo` and `make ui` set it; without it the raw assets load OUTFLOW_RAW_DIR or use the loaded tables.
    """
    return os.environ.get("OUTFLOW_DEMO", "").strip().lower() in ("1", "true", "yes", "on")


def raw_dir() -> Path | None:
    """A folder of the user's own raw files for the Dagster `raw` assets (OUTFLOW_RAW_DIR), if set."""
    value = os.environ.get("OUTFLOW_RAW_DIR", "").strip()
    return Path(value).expanduser().resolve() if value else None


def target() -> str:
    """Which warehouse engine Outflow uses (OUTFLOW_TARGET): ``duckdb`` (default), ``postgres`` or ``spark``.

    The dbt runner picks its dbt target from the same setting, so a user names the warehouse once.
    """
    value = os.environ.get("OUTFLOW_TARGET", "").strip().lower() or "duckdb"
    if value not in TARGETS:
        from outflow.warehouse.base import WarehouseError

        shown = os.environ["OUTFLOW_TARGET"].strip()[:40]
        raise WarehouseError(
            f"OUTFLOW_TARGET={shown!r} is not a known warehouse target: use one of {', '.join(TARGETS)}"
        )
    return value


def postgres_url() -> str:
    """The PostgreSQL database (OUTFLOW_POSTGRES_URL): ``postgresql://user[:password]@host:port/dbname``.

    The password may instead come from PGPASSWORD. It is never printed.
    """
    value = os.environ.get("OUTFLOW_POSTGRES_URL", "").strip()
    if not value:
        from outflow.warehouse.base import WarehouseError

        raise WarehouseError(
            "OUTFLOW_TARGET=postgres but OUTFLOW_POSTGRES_URL is not set: set it to postgresql://user@host:port/dbname "
            "(the password in PGPASSWORD)"
        )
    if not value.startswith(("postgresql://", "postgres://")):
        from outflow.warehouse.base import WarehouseError
        from outflow.warehouse.postgres import mask

        raise WarehouseError(
            f"OUTFLOW_POSTGRES_URL ({mask(value)[:60]}) is not a postgresql:// URL: "
            "set it to postgresql://user@host:port/dbname"
        )
    return value


def as_of_setting() -> str | None:
    """The data's "now" (OUTFLOW_AS_OF): an ISO date or timestamp; unset means the loaded dataset's date.

    A bare date means the end of that day in the warehouse's time zone; see outflow/asof.py and docs/measurement.md.
    """
    return os.environ.get("OUTFLOW_AS_OF", "").strip() or None


def warehouse_timezone() -> str:
    """The time zone the warehouse's naive timestamps are in (OUTFLOW_TIMEZONE, default UTC)."""
    return os.environ.get("OUTFLOW_TIMEZONE", "").strip() or "UTC"
