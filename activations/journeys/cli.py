"""``outflow journey …``: list, validate, simulate, evaluate, status, history, pause, drain, resume."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from activations.cli import _friendly  # user mistakes: one red line, exit 1
from outflow.console import console
from outflow.errors import OutflowError

app = typer.Typer(help="Journeys: multi-step lifecycle flows evaluated in the warehouse.", no_args_is_help=True)


DirOpt = Annotated[Path | None, typer.Option("--dir", help="directory of journey YAML files")]


def _when(value: str, option: str, *, end_of_day: bool = False) -> datetime:
    """An ISO date or date-time (UTC); a bare date is the start of the day, or its end for ``--to``."""
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime.combine(d, time.max.replace(microsecond=0) if end_of_day else time.min)
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        raise OutflowError(f"{option}: {value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None


@app.command("list")
@_friendly
def list_(directory: DirOpt = None) -> None:
    """List the declared journeys."""
    from activations.journeys.spec import journeys_dir, load_journeys

    journeys = load_journeys(directory)
    table = Table("journey", "entry", "steps", "goals", "re-entry", "schedule", "file")
    for j in journeys:
        e = j.spec.entry
        entry = f"segment {e.segment}" if e.segment else f"event {e.event}"
        goals = ", ".join(c.event or f"segment {c.in_segment}" for c in j.spec.goals) or "-"
        table.add_row(j.name, entry, str(len(j.spec.steps)), goals, j.spec.reentry, j.spec.schedule, j.file.name)
    console.print(table)
    if not journeys:
        console.print(f"no journeys declared in {directory or journeys_dir()}")


@app.command()
@_friendly
def validate(directory: DirOpt = None) -> None:
    """Validate every journey: keys, steps, segments, syncs, loops without a delay, split percentages."""
    from activations.journeys.spec import load_journeys

    journeys = load_journeys(directory)
    console.print(f"[green]{len(journeys)} journeys valid[/green]")


@app.command()
@_friendly
def simulate(
    name: str,
    from_: Annotated[str, typer.Option("--from", help="start of the replay (YYYY-MM-DD[THH:MM], UTC)")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="end of the replay (a bare date: the end of that day); default the as-of date (--as-of)"
        ),
    ] = None,
    step: Annotated[str, typer.Option("--step", help="clock step: 30m, 1h, 1d")] = "1h",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="the data's 'now' when --to is not given; default OUTFLOW_AS_OF, else the "
            "loaded dataset's date, else the clock",
        ),
    ] = None,
    directory: DirOpt = None,
) -> None:
    """Replay a journey over the warehouse's data on a virtual clock; print per-step counts with sample people.
    The transitions are written to outflow_journeys_sim.journey_history (live state is not touched)."""
    from activations.journeys.simulate import parse_step
    from activations.journeys.simulate import simulate as run
    from activations.journeys.spec import find_journey
    from outflow.warehouse import connect

    j = find_journey(name, directory)
    start = _when(from_, "--from")
    if to is None:
        from outflow.asof import resolve_as_of

        with connect() as wh:
            at = resolve_as_of(as_of, wh)
        console.print(at.describe(), highlight=False)
        end = at.at()
    else:
        end = _when(to, "--to", end_of_day=True)
    if end < start:
        raise OutflowError(f"the end of the replay ({end:%Y-%m-%d %H:%M}) is before --from {from_}")
    try:
        tick = parse_step(step)
    except ValueError as exc:
        raise OutflowError(str(exc)) from None
    with connect() as wh, console.status(f"replaying {name} from {start} to {end}…"):
        sim = run(wh, j, start, end, tick)
    print_counts(f"{name}: {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}, every {step}", sim.steps, sample=True)
    console.print(
        f"{len(sim.evaluations)} evaluations, {sim.sends} sends; transitions in {sim.schema}.journey_history",
        highlight=False,
    )


@app.command("evaluate")
@_friendly
def evaluate_cmd(
    name: Annotated[str | None, typer.Argument(help="one journey (default: all)")] = None,
    at: Annotated[str | None, typer.Option("--at", help="evaluate as of this time (default: now, UTC)")] = None,
    directory: DirOpt = None,
) -> None:
    """Evaluate journeys now: admit, apply goals, advance the due, emit sends (into the journey send models)."""
    from activations.journeys.engine import evaluate
    from activations.journeys.spec import find_journey, load_journeys
    from outflow.warehouse import connect

    journeys = [find_journey(name, directory)] if name else load_journeys(directory)
    now = _when(at, "--at") if at else datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with connect() as wh:
        for j in journeys:
            ev = evaluate(wh, j, now)
            console.print(
                f"{j.name}: {ev.status}; admitted {ev.admitted}, moved {ev.moved}, left {ev.exited}, sent {ev.sent}"
            )


@app.command()
@_friendly
def status(name: str, directory: DirOpt = None) -> None:
    """Per-step counts of a live journey (everyone ever in it, and who is on each step now)."""
    from activations.journeys.engine import SCHEMA, ensure_tables
    from activations.journeys.simulate import step_counts
    from activations.journeys.spec import find_journey
    from outflow.warehouse import connect

    j = find_journey(name, directory)
    with connect() as wh:
        ensure_tables(wh)
        counts = step_counts(wh, j, SCHEMA)
        mode = wh.execute(f"select mode from {SCHEMA}.journey_controls where journey = ?", [name]).fetchone()
        last = wh.execute(f"select max(as_of) from {SCHEMA}.journey_runs where journey = ?", [name]).fetchone()
    print_counts(f"{name} ({mode[0] if mode else 'active'}; last evaluated {last[0] or 'never'})", counts)


@app.command()
@_friendly
def history(person_id: str) -> None:
    """Every journey transition of one person, with its reason."""
    from activations.journeys.simulate import person_history
    from outflow.warehouse import connect

    with connect() as wh:
        rows = person_history(wh, person_id)
    table = Table("at", "journey", "entry", "from", "to", "reason", title=f"journeys of {person_id}")
    for at, journey, entry, frm, to, reason in rows:
        table.add_row(str(at), journey, str(entry), frm or "(entry)", to or "(left)", reason)
    console.print(table)
    if not rows:
        console.print(f"{person_id} has not been in any journey")


def _set_mode(name: str, mode: str, directory: Path | None) -> None:
    from activations.journeys.engine import set_control
    from activations.journeys.spec import find_journey
    from outflow.warehouse import connect

    find_journey(name, directory)
    with connect() as wh:
        set_control(wh, name, mode)
    console.print(f"{name}: {mode}")


@app.command()
@_friendly
def pause(name: str, directory: DirOpt = None) -> None:
    """Pause a journey: nobody advances or enters; everyone keeps their step."""
    _set_mode(name, "paused", directory)


@app.command()
@_friendly
def drain(name: str, directory: DirOpt = None) -> None:
    """Drain a journey: no new entries; the people in it carry on to the end."""
    _set_mode(name, "draining", directory)


@app.command()
@_friendly
def resume(name: str, directory: DirOpt = None) -> None:
    """Resume a paused or draining journey."""
    _set_mode(name, "active", directory)


def print_counts(title: str, counts: list[Any], *, sample: bool = False) -> None:
    table = Table(title=title, title_justify="left")
    for col in ("step", "kind", "entered", "waited", "branched", "exited", "goal", "now"):
        table.add_column(col, justify="left" if col in ("step", "kind") else "right")
    if sample:
        table.add_column("sample people")
    for c in counts:
        branched = f"{c.branched} ({', '.join(f'{k}: {v}' for k, v in sorted(c.arms.items()))})" if c.arms else "-"
        row = [c.step, c.kind, str(c.entered), str(c.waited), branched, str(c.exited), str(c.goal), str(c.active)]
        table.add_row(*row, *([", ".join(c.sample)] if sample else []))
    console.print(table)
