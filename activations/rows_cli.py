"""``outflow sync rejected | log``: the rows a destination refused and the row log, without SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from activations.cli import _friendly
from outflow.cli_options import WarehouseOpt
from outflow.console import err_console, print_frame

if TYPE_CHECKING:
    pass

NameArg = Annotated[str | None, typer.Argument(help="sync name (default: every sync)")]
LimitOpt = Annotated[int, typer.Option("--limit", help="rows to show at most (0: all)")]


def _open(warehouse: object, name: str | None):  # noqa: ANN202
    from activations.rows import check_sync_name, open_for_reading

    con, q = open_for_reading(warehouse)
    if name is not None:
        check_sync_name(con, q, name)
    return con, q


#: kind -> (what its listing is titled, what the hint calls its rows, the option that lists them)
KINDS = {
    "rejected": ("rejected by the destination", "rejected by the destination", ""),
    "invalid": ("set aside before sending", "set aside as invalid", " --invalid"),
    "deferred": ("deferred by the destination", "deferred (sent at a later run)", " --deferred"),
}


@_friendly
def rejected_cmd(
    name: NameArg = None,
    invalid: Annotated[
        bool, typer.Option("--invalid", help="the rows set aside before sending (bad key or email, no consent)")
    ] = False,
    deferred: Annotated[
        bool, typer.Option("--deferred", help="the rows the destination held back for a later run (quiet hours)")
    ] = False,
    limit: LimitOpt = 100,
    warehouse: WarehouseOpt = None,
) -> None:
    """Rows the destination refused, with its message (retried at the next run); --invalid: rows set aside
    before sending, with the reason; --deferred: rows held back for a later run, with the reason, since when
    and for how many runs."""
    from activations.rows import deferred_rows, invalid_rows, rejected_rows

    if invalid and deferred:
        raise typer.BadParameter("--invalid and --deferred list different rows: give one of them")
    read = {"rejected": rejected_rows, "invalid": invalid_rows, "deferred": deferred_rows}
    shown = "invalid" if invalid else "deferred" if deferred else "rejected"
    con, q = _open(warehouse, name)
    try:
        rows = read[shown](con, q, name, limit or None)
        others = {kind: read[kind](con, q, name).height for kind in KINDS if kind != shown}
    finally:
        con.close()
    what = KINDS[shown][0]
    print_frame(rows, f"Rows {what}" + (f" ({name})" if name else ""), f"no rows {what}")
    for kind, n in others.items():
        if n:
            hint = f"outflow sync rejected {name or ''}{KINDS[kind][2]}".replace("  ", " ").rstrip()
            err_console.print(f"{n:,} rows {KINDS[kind][1]}: `{hint}`", highlight=False, soft_wrap=True)


@_friendly
def log_cmd(
    name: NameArg = None,
    person: Annotated[str | None, typer.Option("--person", help="only this person's rows (a person_id)")] = None,
    limit: LimitOpt = 100,
    warehouse: WarehouseOpt = None,
) -> None:
    """The row log, newest first: what each run did with each row (ok, rejected, deferred, unknown), and the
    destination's message."""
    from activations.rows import row_log

    con, q = _open(warehouse, name)
    try:
        rows = row_log(con, q, name, person, limit or None)
    finally:
        con.close()
    title = "Row log" + (f" ({name})" if name else "") + (f" for {person}" if person else "")
    print_frame(rows, title, "no rows logged" + (f" for {person}" if person else ""))
