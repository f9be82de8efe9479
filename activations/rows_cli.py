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


@_friendly
def rejected_cmd(
    name: NameArg = None,
    invalid: Annotated[
        bool, typer.Option("--invalid", help="the rows set aside before sending (bad key or email, no consent)")
    ] = False,
    limit: LimitOpt = 100,
    warehouse: WarehouseOpt = None,
) -> None:
    """Rows the destination refused, with its message (retried at the next run); --invalid: rows set aside
    before sending, with the reason."""
    from activations.rows import invalid_rows, rejected_rows

    con, q = _open(warehouse, name)
    try:
        other = invalid_rows(con, q, name) if not invalid else rejected_rows(con, q, name)
        rows = (invalid_rows if invalid else rejected_rows)(con, q, name, limit or None)
    finally:
        con.close()
    what = "set aside before sending" if invalid else "rejected by the destination"
    print_frame(rows, f"Rows {what}" + (f" ({name})" if name else ""), f"no rows {what}")
    if other.height:
        hint = f"outflow sync rejected {name or ''}{'' if invalid else ' --invalid'}".replace("  ", " ")
        kind = "rejected by the destination" if invalid else "set aside as invalid"
        err_console.print(f"{other.height:,} rows {kind}: `{hint}`", highlight=False, soft_wrap=True)


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
