"""``outflow sync ...``: list, validate, run and inspect activation syncs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from activations.config import find_sync, load_sync, load_syncs, mask, syncs_dir
from outflow.cli_options import WarehouseOpt
from outflow.console import console, err_console
from outflow.errors import OutflowError
from outflow.recorders import Recorder, recording

if TYPE_CHECKING:
    from activations.engine import SyncResult

# The sync engine (DuckDB, Arrow, sqlglot, httpx) is imported by the commands that run syncs, once they run: so
# `outflow sync run` starts the process that writes its Dagster history (RECORDERS) before it loads the engine.

app = typer.Typer(help="Activation syncs: push sync_*/trg_* models to destinations.", no_args_is_help=True)
err = err_console

DirOpt = Annotated[Path | None, typer.Option("--dir", help="directory of sync YAML files")]

#: Recorders (outflow/recorders.py) of `outflow sync run` (not a dry run), each handed every finished run's result
#: (``SyncResult.as_dict()``). The app layer (outflow/cli.py) adds one that records the runs in the Dagster instance
#: (orchestration/history.py): entered first, it gets ready while the syncs are loaded and run.
RECORDERS: list[Recorder] = []


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OutflowError as exc:
            err.print(f"[red]{escape(mask(str(exc)))}[/red]", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


@app.command("list")
@_friendly
def list_(directory: DirOpt = None) -> None:
    """List the declared syncs."""
    syncs = load_syncs(directory)
    table = Table()
    for col in ("name", "source", "mode", "destination", "object", "schedule", "file"):
        table.add_column(col, overflow="fold", no_wrap=col == "name", min_width=len(col))
    for s in syncs:
        table.add_row(
            s.name, s.source, s.mode.value, s.destination.type, s.destination.object, s.schedule or "-",
            Path(s.path or "").name,
        )  # fmt: skip
    console.print(table)
    if not syncs:
        console.print(f"no syncs declared in {directory or syncs_dir()}")


@app.command()
@_friendly
def validate(
    files: Annotated[list[Path] | None, typer.Argument(help="files to check (default: all)")] = None,
    directory: DirOpt = None,
) -> None:
    """Validate sync YAML files; the first problem is printed as file: key: message. A vendor API version within
    90 days of its sunset is warned about; one past it fails (activations.destinations.versions)."""
    from activations.destinations.versions import sync_version_problem

    if files:
        syncs = [load_sync(f) for f in files]
    else:
        syncs = load_syncs(directory)
    problems = [p for p in map(sync_version_problem, syncs) if p is not None]
    for level, message in problems:
        if level == "warning":
            console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)
    errors = [m for level, m in problems if level == "error"]
    if errors:
        raise OutflowError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    console.print(f"[green]{len(syncs)} sync(s) valid[/green]")


def _print_result(res: SyncResult) -> None:
    table = Table("added", "changed", "removed", "invalid", "acked", "rejected", "deferred", "duration")
    table.add_row(
        *(str(v) for v in (res.added, res.changed, res.removed, res.invalid, res.acked, res.rejected, res.deferred)),
        f"{res.duration_s:.2f}s",
    )
    console.print(table)
    for op, rows in res.samples.items():
        if rows:
            console.print(f"[bold]{op}[/bold] sample:")
            for r in rows:
                console.print("  " + json.dumps(r, default=str), highlight=False)


@app.command()
@_friendly
def run(
    names: Annotated[list[str] | None, typer.Argument(help="sync name(s); several run concurrently")] = None,
    all_: Annotated[bool, typer.Option("--all", help="run every declared sync")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be sent; send nothing")] = False,
    force: Annotated[bool, typer.Option("--force", help="override the circuit breaker")] = False,
    directory: DirOpt = None,
    warehouse: WarehouseOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    full_resync: Annotated[
        bool,
        typer.Option(
            "--full-resync",
            help="send every row again, not only what changed (e.g. to a destination that lost its data); "
            "shows the plan and asks first; the circuit breaker still weighs the real changes and removals",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="answer yes to the --full-resync question")] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="when a run sends nothing, still check the destination's credentials"),
    ] = False,
) -> None:
    """Run syncs (or preview them with --dry-run). Several syncs share each destination's rate limiter.
    A terminal shows a progress bar per sync (rows sent of planned, rate, rejected, retries); piped, lines."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with recording([] if dry_run else RECORDERS) as record:
        cfgs = _selected(names, all_, directory, "run")
        _run(cfgs, warehouse, dry_run, force, full_resync, yes, verify, record)


def _run(
    cfgs: list[Any], warehouse: Any, dry_run: bool, force: bool, full_resync: bool, yes: bool, verify: bool,
    record: Callable[[dict[str, Any]], None],
) -> None:  # fmt: skip
    from activations.engine import SyncFailed, SyncResult, check_connection, run_sync, run_syncs, unique_syncs
    from activations.progress import sync_progress

    distinct = unique_syncs(cfgs)
    names = [c.name for c in cfgs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        err.print(f"[yellow]sync {name} is named more than once: it runs once[/yellow]", highlight=False)
    cfgs = distinct
    if full_resync:
        if len(cfgs) != 1:
            raise OutflowError("--full-resync: name one sync")
        if not dry_run:
            _confirm_full_resync(cfgs[0], warehouse, force, yes)
    if len(cfgs) == 1:
        try:
            with sync_progress(console) as on_progress:
                res = run_sync(
                    cfgs[0], warehouse=warehouse, dry_run=dry_run, force=force, full_resync=full_resync,
                    on_progress=on_progress,
                )  # fmt: skip
        except SyncFailed as exc:
            _print_result(exc.result)
            raise
        _report(res, record)
        if verify and not dry_run and res.requests == 0:  # nothing sent: nothing proved the credentials yet
            console.print(check_connection(cfgs[0]), highlight=False, soft_wrap=True, markup=False)
        return
    failed = 0
    with sync_progress(console) as on_progress:
        outs = run_syncs(cfgs, warehouse=warehouse, dry_run=dry_run, force=force, on_progress=on_progress)
    by_name = {c.name: c for c in cfgs}
    for out in outs:
        if isinstance(out, SyncResult):
            _report(out, record)
            if verify and not dry_run and out.requests == 0:
                console.print(check_connection(by_name[out.sync_name]), highlight=False, soft_wrap=True, markup=False)
            continue
        failed += 1
        if isinstance(out, SyncFailed):
            _print_result(out.result)
        err.print(f"[red]{escape(mask(str(out)))}[/red]", highlight=False, soft_wrap=True)
    if failed:
        raise OutflowError(f"{failed} of {len(cfgs)} syncs failed or were refused")


def _selected(names: list[str] | None, all_: bool, directory: Path | None, verb: str) -> list[Any]:
    """The syncs a command names, or every declared one with --all."""
    if all_:
        return load_syncs(directory)
    if names:
        return [find_sync(n, directory) for n in names]
    raise OutflowError(f"name a sync to {verb} (see `outflow sync list`) or pass --all")


def _confirm_full_resync(cfg: Any, warehouse: Any, force: bool, yes: bool) -> None:
    """Show what a full resync would send (a dry run: nothing is sent) and ask before going on."""
    import sys

    from activations.engine import run_sync

    plan = run_sync(cfg, warehouse=warehouse, dry_run=True, full_resync=True)
    real = plan.changed - plan.resent
    console.print(
        f"full resync of {cfg.name} to {cfg.destination.type} {cfg.destination.object}: sends {plan.to_send:,} rows "
        f"({plan.added:,} new, {plan.resent:,} unchanged sent again, {real:,} changed, {plan.removed:,} removed)",
        highlight=False,
        soft_wrap=True,
    )
    if yes:
        return
    if not sys.stdin.isatty():
        raise OutflowError("--full-resync re-sends every row: add --yes to confirm when not at a terminal")
    if not typer.confirm("send them?", default=False):
        raise OutflowError("full resync cancelled: nothing was sent")


def _report(res: SyncResult, record: Callable[[dict[str, Any]], None]) -> None:
    _print_result(res)
    record(res.as_dict())
    colour = "yellow" if res.status in ("partial", "dry_run") else "green"
    console.print(f"[{colour}]sync {res.sync_name}: {escape(res.outcome)}[/{colour}]", highlight=False, soft_wrap=True)
    if res.unknown:
        console.print(
            f"[yellow]sync {res.sync_name}: {res.unknown} rows of an interrupted run have an unknown outcome "
            "(delivery: at_most_once): not sent again, see status 'unknown' in outflow_sync.sync_row_log[/yellow]",
            highlight=False,
        )


@app.command("test")
@_friendly
def test_connection(
    names: Annotated[list[str] | None, typer.Argument(help="sync name(s)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every declared sync")] = False,
    directory: DirOpt = None,
) -> None:
    """Check that each sync's destination answers and accepts its credentials, without sending data (the
    vendor's own cheap authenticated read, such as Mailchimp's /ping or HubSpot's contacts page)."""
    from activations.engine import check_connection, unique_syncs

    cfgs = unique_syncs(_selected(names, all_, directory, "test"))
    failed = []
    for cfg in cfgs:
        try:
            console.print(f"[green]ok[/green] {escape(check_connection(cfg))}", highlight=False, soft_wrap=True)
        except OutflowError as exc:
            failed.append(cfg.name)
            err.print(f"[red]{escape(mask(str(exc)))}[/red]", highlight=False, soft_wrap=True)
    if len(cfgs) == 1 and failed:
        raise typer.Exit(1)  # its one line is printed above
    if failed:
        raise OutflowError(f"{len(failed)} of {len(cfgs)} destinations failed the check: {', '.join(failed)}")


@app.command()
@_friendly
def runs(
    name: Annotated[str | None, typer.Argument(help="sync name (default: all)")] = None,
    limit: int = 10,
    warehouse: WarehouseOpt = None,
) -> None:
    """Show the latest runs from outflow_sync.sync_runs."""
    from activations.rows import open_for_reading
    from activations.state import SCHEMA

    con, q = open_for_reading(warehouse)
    try:  # a run log from before deferred rows (read only: not altered here) has no column deferred
        deferred = "deferred" if "deferred" in con.columns(SCHEMA, "sync_runs") else "NULL AS deferred"
        rows = con.execute(
            f"SELECT sync_name, started_at, status, added, changed, removed, invalid, acked, rejected, {deferred}, "
            f"duration_s, error FROM {q}.sync_runs WHERE CAST(? AS VARCHAR) IS NULL OR sync_name = ? "
            "ORDER BY started_at DESC LIMIT ?",
            [name, name, limit],
        ).fetchall()
    finally:
        con.close()
    table = Table()
    for col in ("sync", "started", "status", "add/chg/rm/inv", "acked/rej/def", "secs", "error"):
        table.add_column(col, overflow="fold", no_wrap=col == "status")
    for r in rows:
        name_, started, status, a, c, rm, inv, ack, rej, deferred, secs, error = r
        table.add_row(
            name_, f"{started:%Y-%m-%d %H:%M:%S}" if started else "", status, f"{a}/{c}/{rm}/{inv}",
            f"{ack}/{rej}/{deferred or 0}", "" if secs is None else str(round(secs, 2)), error or "",
        )  # fmt: skip
    console.print(table)
