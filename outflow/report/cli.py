"""`outflow report` (the HTML site), `outflow audience export` and `outflow person explain`: the same facts
(``outflow.report.facts``) as a site and on the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from outflow.console import console, err_console, print_frame

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

audience_app = typer.Typer(help="Audiences: who is in them after consent and holdout.", no_args_is_help=True)
person_app = typer.Typer(help="One person: why they qualify, their consent, scores and what was sent.",
                         no_args_is_help=True)  # fmt: skip


def _reading() -> Warehouse:
    """The warehouse, read-only: these commands never write it, so they run beside other readers (a Dagster run
    reading it, another report) and create nothing; a missing table is one line naming `outflow build`."""
    from activations.engine import _connect

    return _connect(None, read_only=True)


def site(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="folder to write (default: <warehouse dir>/report)")
    ] = None,
    max_people: Annotated[int, typer.Option("--max-people", help="person pages to write at most")] = 1000,
) -> None:
    """Without a subcommand: write the static HTML site (open its index.html; works offline, no server)."""
    if ctx.invoked_subcommand is not None:
        return
    from outflow import settings
    from outflow.report.site import write_site

    target = out or settings.warehouse_path().parent / "report"
    with _reading() as con:
        index = write_site(con, target, max_people=max_people)
    console.print(f"report: {index}", highlight=False, soft_wrap=True)


@audience_app.command("export")
def audience_export(
    name: Annotated[str, typer.Argument(help="audience name")],
    csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout (or in --out)")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the CSV to this file")] = None,
) -> None:
    """The audience's members now, after consent, exclusions and holdout: the people its syncs send."""
    from outflow.report.facts import audience_members

    with _reading() as con:
        members = audience_members(con, name)
    if out is not None:
        members.write_csv(out)
        err_console.print(f"{members.height:,} members written to {out}", highlight=False)
    elif csv:
        sys.stdout.write(members.write_csv())
        sys.stdout.flush()
    else:
        print_frame(members, f"Audience {name}: {members.height:,} members")


@person_app.command("explain")
def person_explain(person_id: Annotated[str, typer.Argument(help="a person_id (p_...)")]) -> None:
    """Why a person qualifies and what happened to them: segments, audiences (and group), consent per channel,
    scores with reason codes, what was sent where and when, and what a sync holds back now (rejected, set aside
    or deferred) with why."""
    from outflow.report.facts import person, reason_codes, text

    with _reading() as con:
        p = person(con, person_id)
    profile = Table(title=f"Person {person_id}", show_header=False)
    profile.add_column("field")
    profile.add_column("value")
    for key in ("email", "phone", "first_name", "last_name", "company", "country", "last_seen_at"):
        profile.add_row(key, text(p.profile.get(key)))
    console.print(profile)
    print_frame(p.segments, "Segments")
    print_frame(p.audiences, "Audiences (treatment is sent; holdout and control are not)")
    print_frame(p.consent, "Consent per channel")
    if p.scores:
        scores = Table(title="Scores", show_header=False)
        scores.add_column("score")
        scores.add_column("value")
        for key, value in p.scores.items():
            if key != "reason_codes":
                scores.add_row(key, text(value))
        for code in reason_codes(p.scores.get("reason_codes")):
            scores.add_row("reason", code)
        console.print(scores)
    print_frame(p.deliveries, "What was sent where and when")
    print_frame(p.held, "Held back now (rejected, set aside or deferred), and why", "nothing held back")
