"""The whole job, end to end, on the embedded DuckDB default.

synthetic data → dbt build (profiles, segments, audiences, triggers, rule scores) → predictive scores →
quality gate → syncs to local destination sandboxes → a readable summary. The demo starts from a fresh
warehouse so that what the sandboxes hold and the sync state agree.
"""

from __future__ import annotations

import logging
import os
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from outflow import settings
from outflow.pipeline import StageTimer, WarehouseSummary, build, generate_and_load, summarize
from outflow.warehouse import connect

log = logging.getLogger(__name__)


@dataclass
class DemoReport:
    summary: WarehouseSummary
    seconds: dict[str, float]
    scoring: dict[str, Any] = field(default_factory=dict)
    segments: list[tuple[str, int]] = field(default_factory=list)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    received: dict[str, str] = field(default_factory=dict)


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


def sync_to_sandboxes(warehouse: Path, stack: ExitStack) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Start every destination sandbox on 127.0.0.1 (free ports), point each declared sync at its sandbox
    (same path, local host and port), give it the sandbox's credentials, and run them all."""
    from activations.config import load_syncs
    from activations.engine import SyncFailed, run_sync
    from activations.sandboxes import start_all
    from activations.sandboxes.testing import make_secret

    sandboxes = start_all(token=os.urandom(12).hex(), webhook_secret=make_secret(os.urandom(24)))
    for sandbox in sandboxes.values():
        stack.callback(sandbox.stop)
    exports = warehouse.parent / "exports"
    results: list[dict[str, Any]] = []
    used: set[str] = set()
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
            res = run_sync(local, warehouse=warehouse)  # the engine runs the quality gate itself
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
    received = {}
    for kind in sorted(used):
        sandbox = sandboxes[kind]
        if kind == "webhook":
            received[kind] = f"{len(sandbox.records('contacts'))} contacts; {len(sandbox.messages('events'))} events"
        else:
            received[kind] = _held(sandbox.store())
    return results, received


def run_demo(people: int, seed: int) -> DemoReport:
    warehouse = settings.warehouse_path()
    timer = StageTimer()
    with timer.stage("generate + load"):
        _fresh_warehouse(warehouse)
        generate_and_load(people, seed, warehouse=warehouse)
    with timer.stage("dbt build"):
        build(warehouse=warehouse)
    with timer.stage("lead scores"):
        from models_ml.pipeline import train_and_score
        from models_ml.registry import ModelRegistry

        # the demo keeps its models beside its fresh warehouse, so every demo trains from scratch
        registry_dir = warehouse.parent / "demo-models"
        shutil.rmtree(registry_dir, ignore_errors=True)
        with connect(warehouse) as con:
            scoring = train_and_score(con, registry=ModelRegistry(registry_dir))
        build(warehouse=warehouse, select="fct_lead_scores+")  # predictive scores flow into the marts
    report_segments: list[tuple[str, int]] = []
    with timer.stage("segments"):
        from outflow.segments import summary as segment_summary

        with connect(warehouse) as con:
            report_segments = segment_summary(con)
    with timer.stage("syncs"), ExitStack() as stack:
        syncs, received = sync_to_sandboxes(warehouse, stack)
    with timer.stage("summary"):
        summary = summarize(warehouse)
    return DemoReport(summary, timer.seconds, scoring, report_segments, syncs, received)
