"""``outflow check [ASSET]``: run the data quality checks and exit non-zero when a blocking one fails.

Mounted in ``outflow/cli.py`` as a single command: ``app.command(name="check")(check)``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from data_quality.config import Severity, load_config
from data_quality.errors import QualityError
from outflow.cli_options import WarehouseOpt
from outflow.console import console
from outflow.recorders import Recorder, recording
from outflow.warehouse import Warehouse, WarehouseError

_STATUS_STYLE = {"passed": "green", "failed": "bold red", "skipped": "dim", "error": "bold yellow"}


def _connect(warehouse: Path | str | None) -> Warehouse:
    from outflow import settings
    from outflow.warehouse import WarehouseError, connect

    try:
        if isinstance(warehouse, str) or (warehouse is None and settings.target() != "duckdb"):
            return connect(warehouse)  # a postgresql:// URL, or the settings
        path = warehouse or settings.warehouse_path()
        if not path.is_file():
            from outflow.warehouse import MISSING_HINT

            raise QualityError(f"no warehouse at {path} (OUTFLOW_WAREHOUSE or --warehouse): {MISSING_HINT}")
        return connect(path)
    except WarehouseError as exc:
        raise QualityError(str(exc)) from None


#: Recorders (outflow/recorders.py) of `outflow check`, each handed the finished quality run; the app layer
#: (outflow/cli.py) adds one that records its results as asset check evaluations in the Dagster instance
#: (orchestration/history.py): entered as the checks start, it gets ready while they run.
RECORDERS: list[Recorder] = []


def check(
    asset: Annotated[
        str | None,
        typer.Argument(help="all (default), raw, profiles, activation, or one asset: raw.orders, dim_profiles, sync_x"),
    ] = None,
    warehouse: WarehouseOpt = None,
    config: Annotated[Path | None, typer.Option(help="quality config YAML (default: OUTFLOW_QUALITY_CONFIG)")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="the data's now: YYYY-MM-DD (end of that day) or an ISO timestamp; default OUTFLOW_AS_OF, "
            "else the loaded dataset's date, else the clock",
        ),
    ] = None,
    fail_on_warn: Annotated[bool, typer.Option(help="exit non-zero on failed warn checks too")] = False,
    plan_only: Annotated[
        bool,
        typer.Option("--plan", help="list the checks and where each rule lives (GX/dbt); run nothing"),
    ] = False,
    rebaseline: Annotated[
        bool, typer.Option(help="accept the current row counts of the selected activation models as baseline")
    ] = False,
    show_passed: Annotated[bool, typer.Option("--all-rows", help="also list passed and skipped checks")] = False,
) -> None:
    """Run the checks of ASSET; exit 1 when a blocking check fails."""
    try:
        _check(asset, warehouse, config, as_of, fail_on_warn, plan_only, rebaseline, show_passed)
    except (QualityError, WarehouseError) as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None


def _check(
    asset: str | None,
    warehouse: Path | None,
    config: Path | None,
    as_of: str | None,
    fail_on_warn: bool,
    plan_only: bool,
    rebaseline: bool,
    show_passed: bool,
) -> None:
    from data_quality import runner, store

    cfg = load_config(config)
    now = None
    if as_of:
        now = runner._parse_as_of(as_of)
    con = _connect(warehouse)
    with recording([] if plan_only or rebaseline else RECORDERS) as record:  # the history gets ready meanwhile
        try:
            if not runner.resolve_assets(con, asset):  # nothing loaded or built: nothing to check is not "OK"
                from outflow.warehouse import MISSING_HINT

                raise QualityError(f"the warehouse has no table to check: {MISSING_HINT}")
            if rebaseline:
                for a in runner.resolve_assets(con, asset or "activation"):
                    if a.startswith("raw.") or a == "dim_profiles":
                        continue
                    console.print(f"{a}: baseline set to {store.rebaseline(con, a)} rows")
                return
            if plan_only:
                _print_plan(con, asset, cfg, runner.resolve_now(now, con))
                return
            with console.status("running data quality checks (Great Expectations)…"):
                run = runner.run_checks(con, asset, config=cfg, now=now)
        finally:
            con.close()
        _print_run(run, show_passed)
        record(run)
    failing = bool(run.blocking_failures) or (fail_on_warn and bool(run.warnings))
    if failing:
        raise typer.Exit(1)


def _print_plan(con: Warehouse, asset: str | None, cfg, now: dt.datetime) -> None:  # noqa: ANN001
    from data_quality import runner

    specs, deferred = runner.plan(con, runner.resolve_assets(con, asset), cfg, now)
    table = Table(title="data quality checks", show_lines=False)
    for col in ("asset", "check", "severity", "lives in", "rule"):
        table.add_column(col)
    for s in specs:
        where = "skipped: " + s.skip if s.skip else f"GX {s.expectation}"
        table.add_row(s.asset, s.name, _sev(s.severity), where, s.description)
    for s in deferred:
        table.add_row(s.asset, s.name, _sev(s.severity), "dbt test", s.description)
    console.print(table)


def _sev(sev: Severity) -> str:
    return "[bold]blocking[/bold]" if sev == Severity.BLOCKING else "warn"


def _print_run(run, show_passed: bool) -> None:  # noqa: ANN001
    table = Table(title=f"data quality run {run.run_id} (data as of {run.now:%Y-%m-%d %H:%M})")
    table.add_column("check", overflow="fold")
    table.add_column("severity")
    table.add_column("status")
    table.add_column("failed / rows", justify="right")
    table.add_column("detail", overflow="fold")
    shown = 0
    for r in run.results:
        if not show_passed and r.status in ("passed", "skipped"):
            continue
        shown += 1
        counts = "" if r.failed_count is None else f"{r.failed_count} / {r.element_count}"
        detail = r.message or r.description
        if r.status == "failed" and r.failed_count is None and r.observed is not None:
            detail += f" (observed {json.dumps(r.observed, default=str)})"
        style = _STATUS_STYLE.get(r.status, "")
        table.add_row(r.check_id, _sev(r.severity), f"[{style}]{r.status}[/{style}]", counts, detail)
    statuses = ("passed", "failed", "error", "skipped")
    counts = {s: sum(1 for r in run.results if r.status == s) for s in statuses}
    if shown:
        console.print(table)
    console.print(
        f"{len(run.results)} checks on {len(run.assets)} assets: {counts['passed']} passed, "
        f"{counts['failed']} failed, {counts['error']} errors, {counts['skipped']} not applicable; "
        f"{len(run.deferred_to_dbt)} rules left to dbt tests."
    )
    if run.blocking_failures:
        console.print(f"[bold red]BLOCKED: {len(run.blocking_failures)} blocking check(s) failed[/bold red]")
    else:
        console.print("[green]OK: no blocking check failed[/green]")
    if run.report_path:
        console.print(f"report: {run.report_path}", soft_wrap=True)
