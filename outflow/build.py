"""Run dbt programmatically against the warehouse."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
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

    DuckDB: the profile reads OUTFLOW_WAREHOUSE and OUTFLOW_DUCKDB_MEMORY_LIMIT. PostgreSQL: host, port, user,
    password and database come from OUTFLOW_POSTGRES_URL (see PG_ENV). Spark: dbt-spark's session method runs in
    this process, on the SparkSession outflow.warehouse.spark starts. Models go to schema `main` and the raw
    tables stay in schema `raw` on every target, so every relation has the same name everywhere.
    """
    target = settings.target()
    os.environ["OUTFLOW_TARGET"] = target  # the profile's default target, for dbt runs that pass no --target
    if target == "spark":
        from outflow.warehouse.spark import session

        session()  # started with Outflow's settings; dbt-spark's session method picks up this same SparkSession
    elif target == "postgres":
        os.environ.update(postgres_profile_env(settings.postgres_url()))
    else:
        from outflow.warehouse.duckdb import memory_limit

        # checked here, so that a bad value is one line naming it, not a dbt error; the profile reads the default too
        os.environ["OUTFLOW_DUCKDB_MEMORY_LIMIT"] = memory_limit()
        path = warehouse or settings.warehouse_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        os.environ["OUTFLOW_WAREHOUSE"] = str(path)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return target


def dbt_vars(as_of: str | None) -> list[str]:
    """The as-of as dbt --vars (for a dbt started elsewhere; every new value makes dbt re-parse the project)."""
    return ["--vars", json.dumps({"as_of": as_of})] if as_of else []


#: The as-of of a run_dbt call. The macro outflow_now() reads it only when a model runs, so changing it keeps dbt's
#: partial parse (a new --vars value makes dbt re-parse the whole project).
AS_OF_ENV = "OUTFLOW_DBT_AS_OF"


#: The dbt arguments that leave the unit tests out of a `dbt build`. They test the models' SQL on fixed fixtures, so
#: they belong to development and CI, not to the production build (dbt's documentation, "Unit tests": "When to run
#: unit tests", https://docs.getdbt.com/docs/build/unit-tests); `outflow build --unit-tests` runs them too.
SKIP_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]


@contextmanager
def _as_of_env(as_of: str | None) -> Iterator[None]:
    before = os.environ.get(AS_OF_ENV)
    os.environ[AS_OF_ENV] = as_of or ""
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(AS_OF_ENV, None)
        else:
            os.environ[AS_OF_ENV] = before


@contextmanager
def _target_lock() -> Iterator[None]:
    """Hold the project's dbt target folder (where dbt writes its manifest and partial parse) for one dbt
    command: another process running dbt on the same project (two builds, or a build beside Dagster
    parsing the project at load) waits rather
    than reading a half-written manifest. Processes with their own DBT_TARGET_PATH do not wait for each other."""
    from filelock import FileLock, Timeout

    folder = settings.dbt_target_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / ".outflow-dbt.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("another dbt command is running on this project (%s): waiting for it to finish", folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


#: A node's progress: {"event": "begin" (a dbt invocation) | "start" | "done", "name", "resource_type", "index",
#: "total", "status", "message"}
NodeEvent = dict[str, Any]


def _node_events(on_node: Callable[[NodeEvent], None]) -> Callable[[Any], None]:
    """A dbtRunner callback turning dbt's own events (LogStartLine, and each node's result line) into
    ``on_node`` calls; any other event is ignored."""
    results = {"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult", "LogNodeResult"}

    def callback(msg: Any) -> None:
        name = msg.info.name
        if name != "LogStartLine" and name not in results:
            return
        data = msg.data
        info = data.node_info
        on_node(
            {
                "event": "start" if name == "LogStartLine" else "done",
                "name": info.node_name,
                "resource_type": info.resource_type,
                "index": getattr(data, "index", 0),
                "total": getattr(data, "total", 0),
                "status": (getattr(data, "status", "") or info.node_status or "").lower(),
                "message": getattr(data, "description", ""),
            }
        )

    return callback


def _is_hook(node: Any) -> bool:
    return str(getattr(node, "resource_type", "")) == "operation"


#: The level of dbt's own log, dbt_project/logs/dbt.log (DBT_LOG_PATH): its warnings and errors, a failed node's
#: whole error among them. Given explicitly: dbt's file log follows --log-level unless told otherwise, and
#: `--log-level none` alone turns it off too.
FILE_LOG_LEVEL = "warn"


def dbt_log_file() -> Path:
    """dbt's own log file: DBT_LOG_PATH (dbt's setting), else the project's logs/ folder, as dbt chooses it."""
    return Path(os.environ.get("DBT_LOG_PATH") or settings.DBT_PROJECT_DIR / "logs") / "dbt.log"


def _invoke(
    args: list[str],
    warehouse: Path | None,
    as_of: str | None,
    quiet: bool,
    on_node: Callable[[NodeEvent], None] | None,
    manifest: Any | None,
) -> Any:
    """dbt's own result (a dbtRunnerResult) of one command in dbt_project/, on the manifest given, else on the one
    dbt loads (partial parse)."""
    from dbt.cli.main import dbtRunner

    target = dbt_env(warehouse)
    project = str(settings.DBT_PROJECT_DIR)
    full = [
        # quiet: no console logger at all (dbt formats every event for each logger before it filters by level): the
        # run's failures are reported from its results; the file log keeps its own level (FILE_LOG_LEVEL), without
        # the colour codes dbt puts in its lines for a terminal
        *(["--log-level", "none", "--log-level-file", FILE_LOG_LEVEL, "--no-use-colors"] if quiet else []),
        *args,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target",
        target,
    ]
    if on_node is not None:
        on_node({"event": "begin", "name": " ".join(args[:1]), "resource_type": "", "index": 0, "total": 0,
                 "status": "", "message": ""})  # fmt: skip
    with _target_lock(), _as_of_env(as_of):
        runner = dbtRunner(manifest=manifest, callbacks=[_node_events(on_node)] if on_node else None)
        return runner.invoke(full)


def parse_manifest(warehouse: Path | None = None) -> Any:
    """The project's dbt manifest, loaded once (dbt's partial parse) and written to the target folder's
    manifest.json, for several dbt commands to share (``run_dbt(manifest=...)``): each skips loading it again."""
    outcome = _invoke(["parse"], warehouse, None, True, None, None)
    if not outcome.success:
        raise OutflowError(f"dbt parse failed: {' '.join(str(outcome.exception or f'see {dbt_log_file()}').split())}")
    return outcome.result


def _listed(args: list[str], select: list[str], warehouse: Path | None, manifest: Any | None) -> list[dict]:
    """`dbt ls --output json` of a selection, one dict per node."""
    outcome = _invoke(["ls", "--output", "json", *args, "--select", *select], warehouse, None, True, None, manifest)
    if not outcome.success:
        raise OutflowError(f"dbt ls --select {' '.join(select)} failed: {' '.join(str(outcome.exception).split())}")
    return [json.loads(line) for line in outcome.result or []]


def selected_sources(select: list[str], warehouse: Path | None = None, manifest: Any | None = None) -> set[str]:
    """The sources a dbt selection holds, as `source_name.table` (`+dim_profiles` holds every source upstream of
    it), listed by `dbt ls` on the manifest given."""
    listed = _listed(["--resource-type", "source", "--output-keys", "source_name name"], select, warehouse, manifest)
    return {"{source_name}.{name}".format(**node) for node in listed}


def selected_relations(
    select: list[str], exclude: list[str], warehouse: Path | None = None, manifest: Any | None = None
) -> set[str]:
    """The unique ids of the models, seeds, snapshots and sources a dbt selection holds, less `exclude` (`dbt ls`)."""
    args = ["--resource-type", "model", "seed", "snapshot", "source", "--output-keys", "unique_id"]
    args += ["--exclude", *exclude] if exclude else []
    return {node["unique_id"] for node in _listed(args, select, warehouse, manifest)}


def run_dbt(
    args: list[str],
    warehouse: Path | None = None,
    as_of: str | None = None,
    quiet: bool = True,
    on_node: Callable[[NodeEvent], None] | None = None,
    manifest: Any | None = None,
    write_manifest: bool = True,
) -> DbtRun:
    """Run a dbt command (e.g. ["build"]) in dbt_project/; raise OutflowError naming what failed.
    ``on_node`` hears dbt's own per-node events (start, then done with its status), for progress; ``manifest`` (from
    parse_manifest) is the project as already loaded. ``write_manifest=False`` leaves the target folder's
    manifest.json as it is (the one parse_manifest wrote) and writes only the run's results, run_results.json, which
    `dbt retry` reads: a failed part's results are there, as dbt writes them."""
    outcome = _invoke(
        [*args, *([] if write_manifest else ["--no-write-json"])], warehouse, as_of, quiet, on_node, manifest
    )
    if not write_manifest and hasattr(outcome.result, "write"):
        # dbt's own artifact, as dbt does; `dbt retry` runs again with the arguments it records, so they say that
        # artifacts are written (this run's --no-write-json only spared the manifest)
        outcome.result.args["write_json"] = True
        outcome.result.write(str(settings.dbt_target_dir() / "run_results.json"))
    results = []
    if outcome.result is not None and hasattr(outcome.result, "results"):
        # a node's results (a run-operation's carry no node: its outcome is `success`); the project's on-run-start
        # hook runs in every command and is no node of the project: only its failure is reported
        nodes = (r for r in outcome.result.results if hasattr(r, "node"))
        for r in (r for r in nodes if not (_is_hook(r.node) and str(r.status) == "success")):
            results.append(
                {
                    "name": getattr(r.node, "name", "?"),
                    "unique_id": getattr(r.node, "unique_id", ""),
                    # a test's model (the asset it checks): dbt's attached_node, else its single parent model
                    "attached": _attached(r.node),
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
            detail = "; ".join(f"{f['name']}: {_failure_line(f['message'] or f['status'])}" for f in failed[:3])
        else:  # no node failed: dbt's own error (an inline query's, a compilation's), all of it
            detail = str(outcome.exception or f"see {dbt_log_file()}")
            detail = _out_of_memory(detail) or detail
        if any(_out_of_memory(m or "") for m in [str(outcome.exception or ""), *(f["message"] for f in failed)]):
            from outflow.warehouse.duckdb import memory_hint

            detail += f"; {memory_hint()}"
        detail = " ".join(detail.split())  # one line
        if secret := os.environ.get(PG_ENV["password"]):
            detail = detail.replace(secret, "***")
        raise OutflowError(f"dbt {' '.join(args)} failed: {detail}")
    return run


def _out_of_memory(message: str) -> str | None:
    """DuckDB's out-of-memory line in a node's failure (dbt's first line only says "Runtime Error in model ...")."""
    if os.environ.get("OUTFLOW_TARGET") != "duckdb":
        return None
    from outflow.warehouse.duckdb import out_of_memory

    return out_of_memory(message)


#: dbt's heading of a node's failure ("Runtime Error in model x (models/x.sql)"): the reason is on the next line
_FAILURE_HEADING = re.compile(r"[\w ]*Error in \w+ \S+ \(.*\)")


def _failure_line(message: str) -> str:
    """The line that says why a node failed: DuckDB's out-of-memory line, else the message's first line, with the
    line after it when the first is only dbt's heading (the database's own error: a missing column, a bad cast)."""
    if line := _out_of_memory(message):
        return line
    lines = [line.strip() for line in message.splitlines() if line.strip()] or [message]
    return f"{lines[0]}: {lines[1]}" if len(lines) > 1 and _FAILURE_HEADING.fullmatch(lines[0]) else lines[0]


def _attached(node: Any) -> str | None:
    """The name of the model, seed or snapshot a dbt test checks, or None (not a test, or several parents)."""
    parent = getattr(node, "attached_node", None)
    if not parent:
        parents = [n for n in getattr(getattr(node, "depends_on", None), "nodes", []) or [] if "." in n]
        parents = [n for n in parents if n.split(".")[0] in ("model", "seed", "snapshot")]
        parent = parents[0] if len(parents) == 1 else None
    return parent.rsplit(".", 1)[-1] if parent else None
