"""Resources, declared once for every domain."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from outflow import settings
from outflow.warehouse import Warehouse, connect


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse. ``path`` set: that DuckDB file. Empty: the settings (OUTFLOW_TARGET, then OUTFLOW_WAREHOUSE
    or OUTFLOW_POSTGRES_URL), so Dagster runs on the warehouse the user named once."""

    path: str = ""

    def file(self) -> Path:
        """The DuckDB file, or on PostgreSQL where it would be: the folder beside it holds local files only
        (generated data, the model registry). Reach the warehouse through ``connect``, on every target."""
        return Path(self.path) if self.path else settings.warehouse_path()

    def connect(self, read_only: bool = False) -> Warehouse:
        """A session on the warehouse; close it (or use ``with``) when done. A DuckDB file another process
        holds past OUTFLOW_LOCK_TIMEOUT makes the step retry (``retry_on_lock``)."""
        with retry_on_lock():
            return connect(self.path, read_only=read_only) if self.path else connect(read_only=read_only)


#: What DuckDB, the warehouse interface and the sync engine say when another process holds the DuckDB file.
LOCK_MESSAGES = (
    "Could not set lock on file",
    "Conflicting lock",
    "is locked by another process",
    "is in use by another process",
)


def is_lock_error(exc: BaseException) -> bool:
    return any(m in str(exc) for m in LOCK_MESSAGES)


@contextmanager
def retry_on_lock() -> Iterator[None]:
    """A step that fails only because another process holds the DuckDB warehouse (a CLI command, say) is retried
    (OUTFLOW_LOCK_RETRIES times, default 3, OUTFLOW_LOCK_RETRY_SECONDS apart, default 15); other errors fail."""
    try:
        yield
    except dg.RetryRequested:
        raise
    except Exception as exc:
        if not is_lock_error(exc):
            raise
        raise dg.RetryRequested(
            max_retries=int(os.environ.get("OUTFLOW_LOCK_RETRIES", "3")),
            seconds_to_wait=float(os.environ.get("OUTFLOW_LOCK_RETRY_SECONDS", "15")),
        ) from exc


# One pool for everything that writes the DuckDB file: DuckDB has a single writer, so steps that
# write it run one at a time (see orchestration/dagster_home/dagster.yaml for the run-level limit).
WAREHOUSE_POOL = "duckdb_warehouse"
WAREHOUSE_RUN_TAGS = {"outflow/warehouse": "duckdb"}
