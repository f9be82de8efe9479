"""One history for the CLI and Dagster: what an `outflow` command materialized is recorded in the Dagster
instance the UI reads, so that the UI and the warehouse agree.

The CLI (the app layer) uses this module for the commands that materialize assets (`outflow build`, `outflow sync
run`, `outflow demo`, `outflow check`, `outflow score`); the libraries never import it, nor dagster. Each event is a
runless asset event (``DagsterInstance.report_runless_asset_event``): an ``AssetMaterialization`` on the same
asset key as the Dagster asset (dbt models by name, syncs as ``activations/<sync>``), and an
``AssetCheckEvaluation`` per dbt test on the model it tests.

The instance is the one `outflow ui` (and `make ui`) uses: ``DAGSTER_HOME``, else
``orchestration/dagster_home``. ``OUTFLOW_DAGSTER_HISTORY=0`` turns recording off; without dagster installed
nothing is recorded. A failure to record is one warning, never a failed command.

Importing dagster and its SQLite storage costs about a CPU second, and writing an event about a hundredth more,
each a few SQLite commits that wait for the disk. So every command writes through a ``Writer``: a child process
(``python -m orchestration.history``) started as the command starts, which does those imports on the other core
while the command works, is handed each result as plain data when it is known, writes its events at once, and is
waited for before the command exits.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from outflow import settings

log = logging.getLogger("orchestration.history")  # named so also in the writer process (its __main__)

#: The metadata a sync materialization carries, as the Dagster sync asset reports it.
SYNC_FIELDS = ("run_id", "status", "added", "changed", "removed", "rejected", "invalid", "acked", "deferred")
#: What a sync's materialization is made of: its fields, and what says whether the run materialized anything.
SYNC_KEYS = (*SYNC_FIELDS, "sync_name", "dry_run", "duration_s", "completion_ratio")
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


def _dbt_events(dg: Any, results: list[dict[str, Any]], command: str) -> list[Any]:
    """Materializations for the dbt models, seeds and snapshots that built, and a check evaluation for every
    dbt test (on the model it tests, named as dagster-dbt names it: the test's name)."""
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


def _materialized(result: Mapping[str, Any]) -> bool:
    """Whether a sync run materialized its asset: not a dry run, nor a run that failed or was refused."""
    return not result.get("dry_run") and result.get("status") in ("success", "partial")


def _sync_events(dg: Any, result: Mapping[str, Any], command: str) -> list[Any]:
    """A materialization of the sync's asset (``activations/<sync>``) with the counts the Dagster asset reports.
    A dry run, or a run that failed or was refused, materializes nothing."""
    if not _materialized(result):
        return []
    meta: dict[str, Any] = {k: result[k] for k in SYNC_FIELDS if k in result}
    meta["duration_s"] = round(float(result.get("duration_s") or 0.0), 3)
    if "completion_ratio" in result:
        meta["completion_ratio"] = round(float(result["completion_ratio"]), 4)
    meta["by"] = command
    key = dg.AssetKey(["activations", str(result["sync_name"])])
    return [dg.AssetMaterialization(asset_key=key, metadata=meta, tags=TAG)]


def _asset_events(dg: Any, keys: list[list[str]], metadata: Mapping[str, Any], command: str) -> list[Any]:
    meta = {**metadata, "by": command}
    return [dg.AssetMaterialization(asset_key=dg.AssetKey(k), metadata=meta, tags=TAG) for k in keys]


def _demo_events(dg: Any, scoring: Mapping[str, Any], syncs: list[Mapping[str, Any]], command: str) -> list[Any]:
    """What `outflow demo` materialized after its dbt builds: the lead score model and scores, and each sync."""
    events = []
    if scoring:
        from orchestration.defs.ml import MODEL_KEY, SCORES_KEY

        events += _asset_events(dg, [MODEL_KEY.path, SCORES_KEY.path], scoring, command)
    for r in syncs:
        events += _sync_events(dg, r, command)
    return events


def _check_results(run: Any) -> list[dict[str, Any]]:
    """A quality run's results that applied (skipped checks are left out), as plain data."""
    keep = ("asset", "name", "status", "failed_count")
    return [
        {**{k: getattr(r, k) for k in keep}, "severity": r.severity.value} for r in run.results if r.status != "skipped"
    ]


def _check_events(dg: Any, results: list[dict[str, Any]], command: str) -> list[Any]:
    """Each quality check result of `outflow check` as the asset check the Dagster definitions declare (the
    rule's name, on the asset it checks)."""
    from orchestration.defs.quality import asset_key

    events = []
    for r in results:
        meta: dict[str, Any] = {"status": r["status"], "severity": r["severity"], "by": command}
        if r["failed_count"] is not None:
            meta["failed_count"] = r["failed_count"]
        blocking = r["severity"] == "blocking"
        events.append(
            dg.AssetCheckEvaluation(
                asset_key=asset_key(r["asset"]),
                check_name=r["name"],
                passed=r["status"] not in ("failed", "error"),
                severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
                metadata=meta,
            )
        )
    return events


#: How the child process builds each kind of message's events: ``Writer.dbt``, ``.sync``, ``.demo``, ``.checks``,
#: ``.assets``.
_EVENTS = {
    "dbt": _dbt_events,
    "sync": _sync_events,
    "demo": _demo_events,
    "checks": _check_events,
    "assets": _asset_events,
}


def _sync_data(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in SYNC_KEYS if k in result}


class Writer:
    """The history of one command, written by a child process (``python -m orchestration.history COMMAND``) that
    imports dagster and its SQLite storage as soon as it starts, while the command works, then opens the instance
    at the first message it is handed (a JSON line on its standard input) and writes each message's events at once.

    ``close`` waits until it has written them all; a writer handed nothing (a run that failed or was refused, a
    mistake in the command) has touched no file yet and is stopped at once. Nothing is started when recording is
    off; a writer that could not start or failed is one warning."""

    def __init__(self, command: str) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._sent = 0
        if not enabled():
            return
        try:
            cmd = [sys.executable, "-m", "orchestration.history", command]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        except OSError as exc:
            self._failed(exc)

    def _failed(self, why: object) -> None:
        log.warning("could not record this run in the Dagster instance %s: %s", dagster_home(), why)
        self._proc = None

    def _send(self, kind: str, *args: object) -> None:
        if self._proc is None or self._proc.stdin is None:
            return
        try:
            self._proc.stdin.write(json.dumps({"kind": kind, "args": args}, default=str) + "\n")
            self._proc.stdin.flush()
            self._sent += 1
        except OSError as exc:  # the writer is gone
            self._proc.wait()
            self._failed(f"the history writer stopped ({exc})")

    def dbt(self, results: list[dict[str, Any]]) -> None:
        """A dbt command's node results (``outflow.build``'s ``DbtRun.results``)."""
        self._send("dbt", results)

    def sync(self, result: Mapping[str, Any]) -> None:
        """A sync run's result (``SyncResult.as_dict()``); a dry run, failed or refused run records nothing."""
        if _materialized(result):
            self._send("sync", _sync_data(result))

    def demo(self, report: Any) -> None:
        """What `outflow demo` materialized beside its dbt builds (sent as each ended): the lead score model and
        scores, and each sync."""
        scoring = {k: v for k, v in report.scoring.items() if isinstance(v, (int, float, str)) and v is not None}
        syncs = [_sync_data({**r, "sync_name": r["sync"]}) for r in report.syncs]
        self._send("demo", scoring, syncs)

    def checks(self, run: Any) -> None:
        """A quality run of `outflow check` (``data_quality``'s ``QualityRun``)."""
        self._send("checks", _check_results(run))

    def assets(self, keys: list[list[str]], metadata: Mapping[str, Any]) -> None:
        """A materialization of each asset (its key path, e.g. ``["ml", "ml_lead_scores"]``) with ``metadata``."""
        self._send("assets", keys, metadata)

    def close(self) -> None:
        """Wait until every event handed over is written (or the writer has given up, with a warning)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.stdin is None:
            return
        if not self._sent:  # it has only imported modules: nothing to wait for
            proc.terminate()
        try:
            proc.stdin.close()
        except OSError:  # it had stopped: its exit code says so below
            pass
        if proc.wait() != 0 and self._sent:
            self._failed(f"the history writer exited with {proc.returncode}")


@contextmanager
def writer(command: str) -> Iterator[Writer]:
    """A ``Writer`` for ``command`` (``by`` in each event's metadata), closed, and so waited for, on the way out."""
    history = Writer(command)
    try:
        yield history
    finally:
        history.close()


def _serve(command: str, lines: Iterable[str]) -> int:
    """The child process of a ``Writer``: import what opening the instance needs, open it at the first message,
    and write each message's events as it comes; the number of events written."""
    dg = _dagster()
    if dg is None:  # dagster is not installed: nothing is recorded
        for _ in lines:
            pass
        return 0
    # the default (SQLite) storage: most of what opening the instance costs is importing it and SQLAlchemy; a
    # private module, so a dagster that moved it only loses the head start
    with suppress(ImportError):
        import dagster._core.storage.sqlite_storage  # noqa: F401

    instance = None
    n = 0
    try:
        for line in lines:
            if instance is None:
                instance = _instance()
            message = json.loads(line)
            for event in _EVENTS[message["kind"]](dg, *message["args"], command):
                instance.report_runless_asset_event(event)
                n += 1
    except Exception as exc:  # the command succeeded: its history is a bonus, never a failure
        log.warning("could not record this run in the Dagster instance %s: %s", dagster_home(), exc)
        for _ in lines:  # take what the command still hands over, so that it does not wait on a full pipe
            pass
    finally:
        if instance is not None:
            instance.dispose()
    return n


if __name__ == "__main__":
    # Ctrl-C stops the command; this process then sees the end of its input and writes what it was handed
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _serve(sys.argv[1], sys.stdin)
