"""Run dbt programmatically against the warehouse."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from outflow import settings
from outflow.errors import OutflowError

log = logging.getLogger(__name__)


@dataclass
class DbtRun:
    success: bool
    results: list[dict]

    def failures(self) -> list[dict]:
        return [r for r in self.results if r["status"] in ("error", "fail", "runtime error")]


def dbt_env(warehouse: Path | None = None) -> None:
    """Point dbt's profile at the warehouse (the profile reads OUTFLOW_WAREHOUSE)."""
    path = warehouse or settings.warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.environ["OUTFLOW_WAREHOUSE"] = str(path)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def dbt_vars(as_of: str | None) -> list[str]:
    return ["--vars", json.dumps({"as_of": as_of})] if as_of else []


def run_dbt(args: list[str], warehouse: Path | None = None, as_of: str | None = None, quiet: bool = True) -> DbtRun:
    """Run a dbt command (e.g. ["build"]) in dbt_project/; raise OutflowError naming what failed."""
    from dbt.cli.main import dbtRunner

    dbt_env(warehouse)
    project = str(settings.DBT_PROJECT_DIR)
    full = [
        *(["--quiet"] if quiet else []),
        *args,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        *dbt_vars(as_of),
    ]
    outcome = dbtRunner().invoke(full)
    results = []
    if outcome.result is not None and hasattr(outcome.result, "results"):
        for r in outcome.result.results:
            results.append(
                {
                    "name": getattr(r.node, "name", "?"),
                    "resource_type": str(getattr(r.node, "resource_type", "")),
                    "status": str(r.status),
                    "message": r.message,
                    "seconds": r.execution_time,
                }
            )
    run = DbtRun(success=bool(outcome.success), results=results)
    if not run.success:
        failed = run.failures()
        if failed:
            detail = "; ".join(f"{f['name']}: {(f['message'] or f['status']).splitlines()[0]}" for f in failed[:3])
        else:
            detail = str(outcome.exception or "see the dbt log above")
        raise OutflowError(f"dbt {' '.join(args)} failed: {detail}")
    return run
