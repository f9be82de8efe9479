"""The whole job, end to end, on the embedded DuckDB default.

synthetic data → dbt build (profiles, segments, audiences, triggers, rule scores) → predictive scores →
quality gate → syncs to local destination sandboxes → a readable summary. The demo starts from a fresh
warehouse so that what the sandboxes hold and the sync state agree.
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outflow import settings
from outflow.pipeline import StageTimer, WarehouseSummary, build, generate_and_load, summarize
from outflow.warehouse import connect

log = logging.getLogger(__name__)


@dataclass
class DemoReport:
    summary: WarehouseSummary
    seconds: dict[str, float]
    segments: list[tuple[str, int]] = field(default_factory=list)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    received: dict[str, dict[str, int]] = field(default_factory=dict)


def _fresh_warehouse(path: Path) -> None:
    for suffix in ("", ".wal"):
        target = Path(str(path) + suffix)
        if target.exists():
            target.unlink()


def run_syncs(warehouse: Path, stack: ExitStack) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """Start a sandbox per destination on 127.0.0.1, point every declared sync at it, and run them all."""
    from activations.config import load_syncs
    from activations.engine import SyncFailed, run_sync
    from activations.sandboxes.testing import make_secret
    from activations.sandboxes.webhook import WebhookSandbox

    configs = load_syncs()
    secret = make_secret(os.urandom(24))
    sandboxes: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    for cfg in configs:
        kind = cfg.destination.type
        if kind not in sandboxes:
            if kind != "webhook":
                results.append({"sync": cfg.name, "status": "skipped", "error": f"no sandbox for {kind}"})
                continue
            sandboxes[kind] = stack.enter_context(WebhookSandbox(secret))
        os.environ[cfg.destination.secret_env] = secret
        local = cfg.model_copy(
            update={"destination": cfg.destination.model_copy(update={"base_url": sandboxes[kind].url})}
        )
        try:
            res = run_sync(local, warehouse=warehouse)
            results.append({"sync": cfg.name, **res.as_dict()})
        except SyncFailed as exc:
            results.append({"sync": cfg.name, "status": exc.result.status, "error": exc.result.error})
    received = {
        kind: {obj: len(sb.records(obj)) + len(sb.messages(obj)) for obj in ("contacts", "events")}
        for kind, sb in sandboxes.items()
    }
    return results, received


def run_demo(people: int, seed: int) -> DemoReport:
    warehouse = settings.warehouse_path()
    timer = StageTimer()
    with timer.stage("generate + load"):
        _fresh_warehouse(warehouse)
        generate_and_load(people, seed, warehouse=warehouse)
    with timer.stage("dbt build"):
        build(warehouse=warehouse)
    report_segments: list[tuple[str, int]] = []
    with timer.stage("segments"):
        from outflow.segments import summary as segment_summary

        with connect(warehouse) as con:
            report_segments = segment_summary(con)
    with timer.stage("syncs"), ExitStack() as stack:
        syncs, received = run_syncs(warehouse, stack)
    with timer.stage("summary"):
        summary = summarize(warehouse)
    return DemoReport(summary, timer.seconds, report_segments, syncs, received)
