"""Run dbt programmatically against the warehouse."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from outflow import settings
from outflow.errors import OutflowError

log = logging.getLogger(__name__)


@dataclass
class DbtRun:
    success: bool
    results: list[dict]

    def failures(self) -> list[dict]:
        return [r for r in self.results if r["status"] in ("error", "fail", "runtime error")]


#: The environment variables dbt_project/profiles.yml reads for the `postgres` output. dbt scrubs the values of
#: DBT_ENV_SECRET_* variables from its logs, so the password never reaches a log line.
PG_ENV = {
    "host": "OUTFLOW_PG_HOST",
    "port": "OUTFLOW_PG_PORT",
    "user": "OUTFLOW_PG_USER",
    "password": "DBT_ENV_SECRET_OUTFLOW_PG_PASSWORD",
    "dbname": "OUTFLOW_PG_DBNAME",
    "sslmode": "OUTFLOW_PG_SSLMODE",
}


def postgres_profile_env(url: str) -> dict[str, str]:
    """The profile's variables from a postgresql:// URL (the password from the URL, else PGPASSWORD)."""
    shape = "postgresql://user[:password]@host[:port]/dbname"
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.path.strip("/"):
        raise OutflowError(f"OUTFLOW_POSTGRES_URL is not a PostgreSQL URL: set it to {shape}")
    try:
        port = parts.port or 5432
    except ValueError:
        raise OutflowError(f"OUTFLOW_POSTGRES_URL has a port that is not a number: set it to {shape}") from None
    return {
        PG_ENV["host"]: parts.hostname,
        PG_ENV["port"]: str(port),
        PG_ENV["user"]: unquote(parts.username or os.environ.get("PGUSER", "postgres")),
        PG_ENV["password"]: unquote(parts.password) if parts.password else os.environ.get("PGPASSWORD", ""),
        PG_ENV["dbname"]: unquote(parts.path.strip("/")),
        PG_ENV["sslmode"]: parse_qs(parts.query).get("sslmode", ["prefer"])[0],
    }


def dbt_env(warehouse: Path | None = None) -> str:
    """Point dbt's profile at the warehouse named by the settings; return the dbt target (duckdb | postgres | spark).

    DuckDB: the profile reads OUTFLOW_WAREHOUSE. PostgreSQL: host, port, user, password and database come from
    OUTFLOW_POSTGRES_URL (see PG_ENV). Spark: dbt-spark's session method runs in this process, on the
    SparkSession outflow.warehouse.spark starts. Models go to schema `main` and the raw tables stay in schema
    `raw` on every target, so every relation has the same name everywhere.
    """
    target = settings.target()
    os.environ["OUTFLOW_TARGET"] = target  # the profile's default target, for dbt runs that pass no --target
    if target == "spark":
        from outflow.warehouse.spark import session

        session()  # started with Outflow's settings; dbt-spark's session method picks up this same SparkSession
    elif target == "postgres":
        os.environ.update(postgres_profile_env(settings.postgres_url()))
    else:
        path = warehouse or settings.warehouse_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        os.environ["OUTFLOW_WAREHOUSE"] = str(path)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return target


def dbt_vars(as_of: str | None) -> list[str]:
    return ["--vars", json.dumps({"as_of": as_of})] if as_of else []


def run_dbt(args: list[str], warehouse: Path | None = None, as_of: str | None = None, quiet: bool = True) -> DbtRun:
    """Run a dbt command (e.g. ["build"]) in dbt_project/; raise OutflowError naming what failed."""
    from dbt.cli.main import dbtRunner

    target = dbt_env(warehouse)
    project = str(settings.DBT_PROJECT_DIR)
    full = [
        *(["--quiet"] if quiet else []),
        *args,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target",
        target,
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
        detail = " ".join(detail.split())  # one line
        if secret := os.environ.get(PG_ENV["password"]):
            detail = detail.replace(secret, "***")
        raise OutflowError(f"dbt {' '.join(args)} failed: {detail}")
    return run
