"""``outflow sync ...``: list, validate, run and inspect activation syncs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from activations.config import find_sync, load_sync, load_syncs, mask, syncs_dir
from activations.engine import SyncFailed, SyncResult, run_sync, run_syncs, unique_syncs
from outflow.cli_options import WarehouseOpt
from outflow.console import console, err_console
from outflow.errors import OutflowError

app = typer.Typer(help="Activation syncs: push sync_*/trg_* models to destinations.", no_args_is_help=True)
err = err_console

DirOpt = Annotated[Path | None, typer.Option("--dir", help="directory of sync YAML files")]


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
    table = Table("added", "changed", "removed", "invalid", "acked", "rejected", "duration")
    table.add_row(
        *(str(v) for v in (res.added, res.changed, res.removed, res.invalid, res.acked, res.rejected)),
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
) -> None:
    """Run syncs (or preview them with --dry-run). Several syncs share each destination's rate limiter."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if all_:
        cfgs = load_syncs(directory)
    elif names:
        cfgs = [find_sync(n, directory) for n in names]
    else:
        raise OutflowError("name a sync to run (see `outflow sync list`) or pass --all")
    distinct = unique_syncs(cfgs)
    names = [c.name for c in cfgs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        err.print(f"[yellow]sync {name} is named more than once: it runs once[/yellow]", highlight=False)
    cfgs = distinct
    if len(cfgs) == 1:
        try:
            res = run_sync(cfgs[0], warehouse=warehouse, dry_run=dry_run, force=force)
        except SyncFailed as exc:
            _print_result(exc.result)
            raise
        _report(res)
        return
    failed = 0
    for out in run_syncs(cfgs, warehouse=warehouse, dry_run=dry_run, force=force):
        if isinstance(out, SyncResult):
            _report(out)
            continue
        failed += 1
        if isinstance(out, SyncFailed):
            _print_result(out.result)
        err.print(f"[red]{escape(mask(str(out)))}[/red]", highlight=False, soft_wrap=True)
    if failed:
        raise OutflowError(f"{failed} of {len(cfgs)} syncs failed or were refused")


def _report(res: SyncResult) -> None:
    _print_result(res)
    label = "dry run: nothing sent" if res.dry_run else res.status
    colour = "yellow" if res.status in ("partial", "dry_run") else "green"
    extra = f" ({res.error})" if res.error else ""
    console.print(f"[{colour}]sync {res.sync_name}: {label}[/{colour}]{extra}", highlight=False)
    if res.unknown:
        console.print(
            f"[yellow]sync {res.sync_name}: {res.unknown} rows of an interrupted run have an unknown outcome "
            "(delivery: at_most_once): not sent again, see status 'unknown' in outflow.sync_row_log[/yellow]",
            highlight=False,
        )


@app.command()
@_friendly
def runs(
    name: Annotated[str | None, typer.Argument(help="sync name (default: all)")] = None,
    limit: int = 10,
    warehouse: WarehouseOpt = None,
) -> None:
    """Show the latest runs from outflow.sync_runs."""
    from activations.engine import _connect
    from activations.state import ensure_schema, ns

    con = _connect(warehouse)
    try:
        ensure_schema(con)
        rows = con.execute(
            "SELECT sync_name, started_at, status, added, changed, removed, invalid, acked, rejected, "
            f"duration_s, error FROM {ns(con)}.sync_runs WHERE CAST(? AS VARCHAR) IS NULL OR sync_name = ? "
            "ORDER BY started_at DESC LIMIT ?",
            [name, name, limit],
        ).fetchall()
    finally:
        con.close()
    table = Table()
    for col in ("sync", "started", "status", "add/chg/rm/inv", "acked/rej", "secs", "error"):
        table.add_column(col, overflow="fold", no_wrap=col == "status")
    for r in rows:
        name_, started, status, a, c, rm, inv, ack, rej, secs, error = r
        table.add_row(
            name_, f"{started:%Y-%m-%d %H:%M:%S}" if started else "", status, f"{a}/{c}/{rm}/{inv}",
            f"{ack}/{rej}", "" if secs is None else str(round(secs, 2)), error or "",
        )  # fmt: skip
    console.print(table)


sandbox_app = typer.Typer(help="Local sandboxes for every destination.", invoke_without_command=True)


@sandbox_app.callback()
@_friendly
def sandbox(
    port_base: Annotated[int, typer.Option("--port-base", help="first port (0: free ports)")] = 8790,
    real_rate_limits: Annotated[
        bool, typer.Option("--real-rate-limits", help="enforce each vendor's published rate limit")
    ] = False,
    token_env: Annotated[str, typer.Option(help="env var holding the token the vendor sandboxes accept")] = (
        "OUTFLOW_SANDBOX_TOKEN"
    ),
    secret_env: Annotated[str, typer.Option(help="env var holding the webhook sandbox's whsec_ secret")] = (
        "OUTFLOW_SANDBOX_SECRET"
    ),
) -> None:
    """Start every sandbox on 127.0.0.1, print their base URLs, and serve until Ctrl-C."""
    import os
    import threading

    from activations.sandboxes import start_all
    from activations.sandboxes.testing import make_secret

    token = os.environ.get(token_env) or "sandbox-token"
    secret = os.environ.get(secret_env) or make_secret()
    try:
        running = start_all(token=token, webhook_secret=secret, port_base=port_base, real_rate_limits=real_rate_limits)
    except OSError as exc:
        raise OutflowError(f"cannot start the sandboxes from port {port_base}: {exc}; try --port-base 0") from exc
    table = Table("destination type", "base URL", "inspect")
    for kind, sb in running.items():
        table.add_row(kind, sb.url, f"{sb.url}/_sandbox/" + ("stats" if kind == "webhook" else "store"))
    console.print(table)
    console.print(
        f"tokens: vendor sandboxes accept the value of {token_env} "
        f"({'set' if os.environ.get(token_env) else 'unset: the default sandbox-token'}); "
        f"webhook secret from {secret_env} "
        f"({'set' if os.environ.get(secret_env) else 'unset: a built-in test key'})"
    )
    console.print("serving; Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for sb in running.values():
            sb.stop()
        console.print("sandboxes stopped")
