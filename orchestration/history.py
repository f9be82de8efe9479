"""One history for the CLI and Dagster: what an `outflow` command materialized is recorded in the Dagster
instance the UI reads, so that the UI and the warehouse agree.

The CLI (the app layer) calls these functions after a command that materializes assets (`outflow build`,
`outflow sync run`, `outflow demo`); the libraries never import this module, nor dagster. Each event is a
runless asset event (``DagsterInstance.report_runless_asset_event``): an ``AssetMaterialization`` on the same
asset key as the Dagster asset (dbt models by name, syncs as ``activations/<sync>``), and an
``AssetCheckEvaluation`` per dbt test on the model it tests.

The instance is the one `outflow ui` (and `make ui`) uses: ``DAGSTER_HOME``, else
``orchestration/dagster_home``. ``OUTFLOW_DAGSTER_HISTORY=0`` turns recording off; without dagster installed
nothing is recorded. A failure to record is one warning, never a failed command.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from outflow import settings

log = logging.getLogger(__name__)

#: The metadata a sync materialization carries, as the Dagster sync asset reports it.
SYNC_FIELDS = ("run_id", "status", "added", "changed", "removed", "rejected", "invalid", "acked", "deferred")
TAG = {"outflow/source": "cli"}


def dagster_home() -> Path:
    """The Dagster instance folder the UI reads: DAGSTER_HOME, else the project's orchestration/dagster_home."""
    return Path(os.environ.get("DAGSTER_HOME") or settings.PROJECT_ROOT / "orchestration" / "dagster_home")


def enabled() -> bool:
    return os.environ.get("OUTFLOW_DAGSTER_HISTORY", "1").strip().lower() not in ("0", "false", "no", "off")


def _dagster() -> Any | None:
    """The dagster module, or None when recording is off or dagster is not installed."""
    if not enabled():
        return None
    try:
        import dagster
    except ImportError:
        return None
    return dagster


def _instance() -> Any | None:
    dg = _dagster()
    if dg is None:
        return None
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_config(str(home))


def _report(events: Iterable[Any]) -> int:
    """Write the events to the instance; the number written (0 when recording is off or fails)."""
    try:
        instance = _instance()
        if instance is None:
            return 0
        n = 0
        with instance:
            for event in events:
                instance.report_runless_asset_event(event)
                n += 1
        return n
    except Exception as exc:  # the command succeeded: its history is a bonus, never a failure
        log.warning("could not record this run in the Dagster instance %s: %s", dagster_home(), exc)
        return 0


def record_dbt(results: list[dict[str, Any]], command: str = "outflow build") -> int:
    """Materializations for the dbt models, seeds and snapshots that built, and a check evaluation for every
    dbt test (on the model it tests, named as dagster-dbt names it: the test's name)."""
    dg = _dagster()
    return 0 if dg is None else _report(_dbt_events(dg, results, command))


def _dbt_events(dg: Any, results: list[dict[str, Any]], command: str) -> list[Any]:
    events: list[Any] = []
    for r in results:
        kind = r["resource_type"].rsplit(".", 1)[-1].lower()
        status = r["status"].rsplit(".", 1)[-1].lower()
        if kind in ("model", "seed", "snapshot") and status == "success":
            meta = {"dbt status": status, "seconds": round(r.get("seconds") or 0.0, 3), "by": command}
            events.append(dg.AssetMaterialization(asset_key=dg.AssetKey([r["name"]]), metadata=meta, tags=TAG))
        elif kind in ("test", "unit_test") and r.get("attached") and status in ("pass", "fail", "warn", "error"):
            events.append(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey([r["attached"]]),
                    check_name=r["name"],
                    passed=status == "pass" or status == "warn",
                    severity=dg.AssetCheckSeverity.WARN if status == "warn" else dg.AssetCheckSeverity.ERROR,
                    metadata={"dbt status": status, "by": command, "message": str(r.get("message") or "")},
                )
            )
    return events


def record_sync(result: Mapping[str, Any], command: str = "outflow sync run") -> int:
    """A materialization of the sync's asset (``activations/<sync>``) with the counts the Dagster asset reports.
    A dry run, or a run that failed or was refused, materializes nothing."""
    dg = _dagster()
    return 0 if dg is None else _report(_sync_events(dg, result, command))


def _sync_events(dg: Any, result: Mapping[str, Any], command: str) -> list[Any]:
    if result.get("dry_run") or result.get("status") not in ("success", "partial"):
        return []
    meta: dict[str, Any] = {k: result[k] for k in SYNC_FIELDS if k in result}
    meta["duration_s"] = round(float(result.get("duration_s") or 0.0), 3)
    if "completion_ratio" in result:
        meta["completion_ratio"] = round(float(result["completion_ratio"]), 4)
    meta["by"] = command
    key = dg.AssetKey(["activations", str(result["sync_name"])])
    return [dg.AssetMaterialization(asset_key=key, metadata=meta, tags=TAG)]


def record_assets(keys: list[list[str]], metadata: Mapping[str, Any], command: str) -> int:
    """A materialization of each asset (its key path, e.g. ``["ml", "ml_lead_scores"]``) with ``metadata``."""
    dg = _dagster()
    return 0 if dg is None else _report(_asset_events(dg, keys, metadata, command))


def _asset_events(dg: Any, keys: list[list[str]], metadata: Mapping[str, Any], command: str) -> list[Any]:
    meta = {**metadata, "by": command}
    return [dg.AssetMaterialization(asset_key=dg.AssetKey(k), metadata=meta, tags=TAG) for k in keys]


def record_demo(report: Any, dbt: bool = True) -> int:
    """What `outflow demo` materialized: its dbt builds (``dbt=False``: recorded already, as each ended), the lead
    score model and scores, and each sync, written through one instance (opening one costs about a tenth of a
    second)."""
    dg = _dagster()
    if dg is None:
        return 0
    command = "outflow demo"
    events = _dbt_events(dg, report.dbt_results, command) if dbt else []
    if report.scoring:
        from orchestration.defs.ml import MODEL_KEY, SCORES_KEY

        meta = {k: v for k, v in report.scoring.items() if isinstance(v, (int, float, str)) and v is not None}
        events += _asset_events(dg, [MODEL_KEY.path, SCORES_KEY.path], meta, command)
    for r in report.syncs:
        events += _sync_events(dg, {**r, "sync_name": r["sync"]}, command)
    return _report(events)


def record_quality(run: Any, command: str = "outflow check") -> int:
    """Each quality check result of `outflow check` as the asset check the Dagster definitions declare (the
    rule's name, on the asset it checks); checks that did not apply are left out."""
    dg = _dagster()
    if dg is None:
        return 0
    from orchestration.defs.quality import asset_key

    events = []
    for r in run.results:
        if r.status == "skipped":
            continue
        failed = r.status in ("failed", "error")
        meta: dict[str, Any] = {"status": r.status, "severity": r.severity.value, "by": command}
        if r.failed_count is not None:
            meta["failed_count"] = r.failed_count
        events.append(
            dg.AssetCheckEvaluation(
                asset_key=asset_key(r.asset),
                check_name=r.name,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR if r.severity.value == "blocking" else dg.AssetCheckSeverity.WARN,
                metadata=meta,
            )
        )
    return _report(events)
