"""The whole job, end to end, on the warehouse the settings name (the embedded DuckDB by default).

synthetic data → dbt build (profiles, segments, audiences, triggers, rule scores) → predictive scores →
quality gate → syncs to local destination sandboxes → a readable summary. On DuckDB the demo starts from a fresh
warehouse file so that what the sandboxes hold and the sync state agree. With OUTFLOW_TARGET=postgres and no
OUTFLOW_POSTGRES_URL it starts a throwaway PostgreSQL server on 127.0.0.1 (outflow.local_postgres) for the run.
Steps that do not run on PostgreSQL yet are skipped and reported, one line each (NOT_YET_ON_POSTGRES).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from outflow import settings
from outflow.asof import AsOf, end_of_day, parse_as_of
from outflow.build import parse_manifest
from outflow.generate import DEFAULT_AS_OF
from outflow.pipeline import StageTimer, WarehouseSummary, build, generate_and_load, summarize
from outflow.warehouse import connect

log = logging.getLogger(__name__)

#: Demo steps that do not run on PostgreSQL yet, and why: the demo skips them there and says so. Remove an entry
#: when its part runs through outflow.warehouse on PostgreSQL.
NOT_YET_ON_POSTGRES: dict[str, str] = {}

#: What the predictive lead scores (models_ml, read by the table int_lead_scores__predictive) feed: the demo's first
#: build leaves it out and builds it once the model has scored. The model trains on nothing in it (fct_events,
#: dim_profiles, dim_profile_history, fct_lead_scores_backtest).
SCORED = "int_lead_scores__predictive+"


@dataclass
class DemoReport:
    summary: WarehouseSummary
    seconds: dict[str, float]
    scoring: dict[str, Any] = field(default_factory=dict)
    segments: list[tuple[str, int]] = field(default_factory=list)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    received: dict[str, str] = field(default_factory=dict)
    journeys: list[Any] = field(default_factory=list)  # activations.journeys.simulate.JourneyRun per journey
    skipped: dict[str, str] = field(default_factory=dict)  # step -> why it did not run on this target
    as_of: str = ""  # the as-of date every step used, described
    dbt_results: list[dict[str, Any]] = field(default_factory=list)  # every dbt node's result (for the history)


def _fresh_warehouse(path: Path) -> None:
    for suffix in ("", ".wal"):
        target = Path(str(path) + suffix)
        if target.exists():
            target.unlink()


def _held(store: Any) -> str:
    """A one-line account of what a sandbox holds: the size of each collection it keeps."""
    parts = []
    for name, value in (store or {}).items():
        if isinstance(value, dict) and value and all(isinstance(v, (list, set, dict)) for v in value.values()):
            inner = ", ".join(f"{k}: {len(v)}" for k, v in value.items())
            parts.append(
                f"{name} ({inner})" if name in ("lists", "audiences", "user_lists") else f"{len(value)} {name}"
            )
        elif isinstance(value, (list, dict)):
            parts.append(f"{len(value)} {name}")
    return "; ".join(parts) or "nothing"


def _stop_all(sandboxes: list[Any]) -> None:
    """Stop the sandboxes in parallel: each stop waits up to its server's poll interval (half a second)."""
    with ThreadPoolExecutor(max_workers=len(sandboxes) or 1) as pool:
        for future in [pool.submit(sb.stop) for sb in sandboxes]:
            future.result()


def sync_to_sandboxes(
    warehouse: Path | None, stack: ExitStack, clock: Callable[[], datetime] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Start every destination sandbox on 127.0.0.1 (free ports), point each declared sync at its sandbox
    (same path, local host and port), give it the sandbox's credentials, and run them all on ``warehouse``
    (a DuckDB file; ``None``: the warehouse the settings name, e.g. PostgreSQL). ``clock``: the syncs' clock
    (``run_sync``; default the wall clock, which the SMS quiet hours read)."""
    from activations.config import load_syncs
    from activations.engine import SyncFailed, run_sync
    from activations.sandboxes import start_all
    from activations.sandboxes.testing import make_secret

    sandboxes = start_all(token=os.urandom(12).hex(), webhook_secret=make_secret(os.urandom(24)))
    stack.callback(_stop_all, list(sandboxes.values()))
    exports = (warehouse or settings.warehouse_path()).parent / "exports"
    results: list[dict[str, Any]] = []
    used: set[str] = set()
    # one connection for every sync (each runs on a session of its own from it): opening the file for each and
    # closing it (a checkpoint each time) cost the 14 syncs about half a CPU second
    con = stack.enter_context(connect(warehouse))
    for cfg in load_syncs():
        kind = cfg.destination.type
        target = urlsplit(cfg.destination.base_url)
        if kind == "file":
            base_url = exports.as_uri()
        elif kind in sandboxes:
            sandbox = sandboxes[kind]
            os.environ.update(sandbox.credentials(cfg))
            base_url = urlunsplit(target._replace(netloc=urlsplit(sandbox.url).netloc))
            used.add(kind)
        else:
            results.append({"sync": cfg.name, "status": "skipped", "error": f"no sandbox for {kind}"})
            continue
        local = cfg.model_copy(update={"destination": cfg.destination.model_copy(update={"base_url": base_url})})
        try:
            res = run_sync(local, con=con, clock=clock)  # the engine runs the quality gate itself
            results.append({"sync": cfg.name, "destination": kind, **res.as_dict()})
        except SyncFailed as exc:
            results.append(
                {
                    "sync": cfg.name,
                    "destination": kind,
                    "status": exc.result.status,
                    "error": exc.result.error,
                }
            )
    # The sandboxes stop when the demo ends and what they hold goes with them: the syncs that sent to them forget
    # their acknowledged state, so that a later run (`make ui`, fresh sandboxes) sends everything again.
    from activations.state import forget_destination_state

    forget_destination_state(con, [r["sync"] for r in results if r.get("destination") in used])
    received = {}
    for kind in sorted(used):
        sandbox = sandboxes[kind]
        if kind == "webhook":
            received[kind] = f"{len(sandbox.records('contacts'))} contacts; {len(sandbox.messages('events'))} events"
        else:
            received[kind] = _held(sandbox.store())
    return results, received


@contextmanager
def demo_warehouse() -> Iterator[str]:
    """The warehouse the demo runs on, described for the user (a file, or a URL without its password).

    With OUTFLOW_TARGET=postgres and no OUTFLOW_POSTGRES_URL, a throwaway PostgreSQL server is started on
    127.0.0.1 for the demo and removed when it ends; OUTFLOW_POSTGRES_URL points at it meanwhile."""
    target = settings.target()
    if target != "postgres":
        yield str(settings.warehouse_path())
        return
    if os.environ.get("OUTFLOW_POSTGRES_URL", "").strip():
        from outflow.warehouse.postgres import mask

        yield mask(settings.postgres_url())
        return
    from outflow.local_postgres import LocalPostgres

    with LocalPostgres() as server:
        os.environ["OUTFLOW_POSTGRES_URL"] = server.url
        try:
            yield f"{server.url} (a local PostgreSQL server started for this demo; removed when it ends)"
        finally:
            del os.environ["OUTFLOW_POSTGRES_URL"]


def run_demo(
    people: int,
    seed: int,
    as_of: date | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_built: Callable[[list[dict[str, Any]]], None] | None = None,
) -> DemoReport:
    """Run every step on the warehouse the settings name (see :func:`demo_warehouse` for a local PostgreSQL).

    The data is generated through the end of `as_of` (default: OUTFLOW_AS_OF's date, else the generator's
    default), and every step runs as of the end of that day. ``on_stage`` is told each stage's name as it starts;
    ``on_built`` each dbt build's node results as it ends (the CLI records them while the demo goes on)."""
    if as_of is None:
        setting = settings.as_of_setting()
        as_of = parse_as_of(setting[:10], "OUTFLOW_AS_OF").date() - timedelta(days=1) if setting else DEFAULT_AS_OF
    at = AsOf(end_of_day(as_of), "the generated dataset", as_of.isoformat())
    target = settings.target()
    workdir = settings.warehouse_path().parent  # the demo's files (models, exports) live beside the DuckDB file
    warehouse = settings.warehouse_path() if target == "duckdb" else None  # None: connect() from the settings
    skipped = NOT_YET_ON_POSTGRES if target == "postgres" else {}
    timer = StageTimer(on_stage=on_stage)
    dbt_results: list[dict[str, Any]] = []

    def built(results: list[dict[str, Any]]) -> None:
        dbt_results.extend(results)
        if on_built is not None:
            on_built(results)

    with timer.stage("generate + load"):
        if warehouse is not None:
            _fresh_warehouse(warehouse)
        generate_and_load(people, seed, warehouse=warehouse, as_of=as_of)
    with timer.stage("dbt build"):
        # everything but what the predictive scores feed: that is built once, after the model has scored
        manifest = parse_manifest(warehouse)  # the project loaded once for both builds
        built(build(warehouse=warehouse, as_of=at, exclude=SCORED, manifest=manifest).results)
    with timer.stage("lead scores"):
        from models_ml.pipeline import train_and_score
        from models_ml.registry import ModelRegistry

        # the demo keeps its models beside its fresh warehouse, so every demo trains from scratch
        registry_dir = workdir / "demo-models"
        shutil.rmtree(registry_dir, ignore_errors=True)
        with connect(warehouse) as con:
            scoring = train_and_score(con, as_of=at.moment, registry=ModelRegistry(registry_dir))
        # predictive scores flow into the marts: one dbt command, on the project as loaded for the first build
        built(build(warehouse=warehouse, select=SCORED, steps=False, as_of=at, manifest=manifest).results)
    report_segments: list[tuple[str, int]] = []
    with timer.stage("segments"):
        from outflow.segments import summary as segment_summary

        with connect(warehouse) as con:
            report_segments = segment_summary(con)
    with timer.stage("journeys"):
        journeys = _journeys(warehouse, at.at())
    syncs: list[dict[str, Any]] = []
    received: dict[str, str] = {}
    if "syncs" not in skipped:
        with timer.stage("syncs"), ExitStack() as stack:
            syncs, received = sync_to_sandboxes(warehouse, stack)
    with timer.stage("summary"):
        summary = summarize(warehouse)
    report = DemoReport(
        summary, timer.seconds, scoring, report_segments, syncs, received, dict(skipped), as_of=at.describe()
    )
    report.journeys = journeys
    report.dbt_results = dbt_results
    return report


def _journeys(warehouse: Path | None, as_of: datetime) -> list[Any]:
    """The declared journeys played over the data's last three weeks and the two after, a day at a time, into
    the live journey state: their sends reach the sandboxes through the journey syncs."""
    from activations.journeys import load_journeys
    from activations.journeys.simulate import catch_up

    with connect(warehouse) as con:
        return catch_up(con, load_journeys(), as_of - timedelta(days=21), as_of + timedelta(days=14))
