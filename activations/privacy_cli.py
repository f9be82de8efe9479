"""``outflow privacy erase | report`` and ``outflow sync reconcile``: thin commands over ``activations.privacy``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from activations.cli import DirOpt, WarehouseOpt, _friendly
from activations.config import find_sync
from outflow.console import console

app = typer.Typer(help="Privacy: erasure runs and per-person erasure reports.", no_args_is_help=True)


def _fmt(v: object) -> str:
    return "-" if v is None else str(v)[:19] if hasattr(v, "isoformat") else str(v)


@app.command()
@_friendly
def erase(
    warehouse: WarehouseOpt = None,
    record_only: Annotated[bool, typer.Option("--record-only", help="only add new requests to the ledger")] = False,
) -> None:
    """Record new erasure requests in the ledger, then erase every erased person at every destination that
    ever received them (from the run log), whatever the sync's mode and whether its YAML still exists."""
    from activations.privacy import run_erasure

    res = run_erasure(warehouse=warehouse, only_record=record_only)
    table = Table("sync", "erasures sent", "acknowledged", "failed")
    for name, c in sorted(res.by_sync.items()):
        table.add_row(name, str(c["sent"]), str(c["acked"]), str(c["failed"]))
    console.print(table)
    console.print(
        f"erasure run {res.run_id}: {res.status}; {res.requests_recorded} new request(s) recorded, "
        f"{res.persons} person(s), {res.acked} acknowledged, {res.failed} failed"
    )
    if res.unresolved:
        shown = ", ".join(res.unresolved[:10]) + (", ..." if len(res.unresolved) > 10 else "")
        console.print(
            f"[yellow]{len(res.unresolved)} erasure request(s) not recorded: their identifier has no normalized "
            f"form ({escape(shown)}). Loaded since the last build: run `outflow build`, then erase again. Rejected: "
            "see main.identity_rejected_values for the reason[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
    for e in res.errors:
        console.print(f"[red]{e}[/red]", highlight=False, soft_wrap=True)
    if res.status != "success":
        raise typer.Exit(1)


@app.command()
@_friendly
def report(
    who: Annotated[str, typer.Argument(help="a person id, email or phone")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Every destination a person was sent to, what and when, and the erasure's acknowledgement."""
    from activations.privacy import person_report

    rep = person_report(who, warehouse=warehouse)
    if not rep.known:
        console.print(f"nothing known about {who}: no person, erasure request or send matches it")
        return
    persons = ", ".join(rep.person_ids) or "-"
    console.print(f"person(s): {persons}; erasure requests: {len(rep.requests)}")
    for rid, at, done in rep.requests:
        console.print(f"  request {rid} received {_fmt(at)}, processed {_fmt(done)}")
    table = Table()
    table.add_column("sync", no_wrap=True)
    for col in ("destination", "sent (first / last)", "erasure", "acknowledgement"):
        table.add_column(col, overflow="fold")
    for r in rep.rows:
        ack = "not yet" if r.erasure_status is None else f"{r.erasure_status} {_fmt(r.erasure_logged_at)}"
        table.add_row(
            r.sync_name, f"{_fmt(r.destination_type)} {_fmt(r.base_url)}",
            f"{_fmt(r.first_sent_at)} / {_fmt(r.last_sent_at)} ({r.identifiers_sent} identifier sets)",
            _fmt(r.erasure_action), ack + (f": {r.erasure_message}" if r.erasure_message else ""),
        )  # fmt: skip
    console.print(table)


@_friendly
def reconcile_cmd(
    name: Annotated[str, typer.Argument(help="the sync to reconcile")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report the drift, repair nothing")] = False,
    directory: DirOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Compare what the destination holds with the sync's state and model, and repair the drift: members the
    model does not hold are removed; state rows the destination lacks are cleared (sent again next run)."""
    cfg = find_sync(name, directory)
    from activations.privacy import reconcile

    res = reconcile(cfg, warehouse=warehouse, dry_run=dry_run)
    table = Table("held", "in state", "in model", "removed" if not dry_run else "to remove",
                  "state cleared" if not dry_run else "to clear", "removal failed")  # fmt: skip
    table.add_row(str(res.held), str(res.in_state), str(res.in_model),
                  str(len(res.removed_keys) if dry_run else res.removed),
                  str(len(res.cleared_keys) if dry_run else res.state_cleared), str(res.remove_failed))  # fmt: skip
    console.print(table)
    if res.remove_failed:
        raise typer.Exit(1)
