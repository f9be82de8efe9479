"""`outflow segment …`: list, validate, compile and preview segments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from outflow.cli_options import WarehouseOpt
from outflow.console import console, err_console
from outflow.segments.codegen import compile_project, default_project_dir, stale_files, write_generated
from outflow.segments.compiler import DIALECTS, render_direct
from outflow.segments.errors import SegmentError
from outflow.segments.spec import load_segments

app = typer.Typer(help="Segments and audiences: list, validate, compile, preview.", no_args_is_help=True)

ProjectOpt = Annotated[
    Path | None, typer.Option("--project-dir", help="dbt project directory (default: the repository's)")
]


def _fail(exc: Exception) -> None:
    err_console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("list")
def list_segments(project_dir: ProjectOpt = None) -> None:
    """List the segments defined in dbt_project/segments."""
    pd = project_dir or default_project_dir()
    try:
        segments = load_segments(pd / "segments")
    except SegmentError as exc:
        _fail(exc)
    table = Table("segment", "owner", "description", "file")
    for s in segments.values():
        table.add_row(s.name, s.owner, " ".join(s.description.split()), s.file.name)
    console.print(table)


@app.command()
def validate(project_dir: ProjectOpt = None) -> None:
    """Validate every segment and audience (fields, types, operators, cycles) and check generated models."""
    pd = project_dir or default_project_dir()
    try:
        compiled = compile_project(pd)
        for c in compiled.values():
            for d in DIALECTS:
                render_direct(c.select, dialect=d)
        stale = stale_files(pd)
    except SegmentError as exc:
        _fail(exc)
    console.print(f"[green]{len(compiled)} segments valid[/green] (dialects: {', '.join(DIALECTS)})")
    if stale:
        for s in stale:
            err_console.print(f"[yellow]{s}[/yellow]")
        _fail(SegmentError("generated models are stale: run `outflow segment compile`"))


@app.command("compile")
def compile_cmd(
    project_dir: ProjectOpt = None,
    show: Annotated[str | None, typer.Option(help="print one segment's SQL instead of writing models")] = None,
    dialect: Annotated[str, typer.Option(help=f"dialect for --show: {', '.join(DIALECTS)}")] = "duckdb",
) -> None:
    """Compile segments and audiences into dbt models (models/segments, models/activation/audiences)."""
    pd = project_dir or default_project_dir()
    try:
        if show:
            compiled = compile_project(pd)
            if show not in compiled:
                raise SegmentError(f"no segment named {show!r}; known: {', '.join(sorted(compiled))}")
            if dialect not in DIALECTS:
                raise SegmentError(f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
            console.print(render_direct(compiled[show].select, dialect=dialect, pretty=True), highlight=False)
            return
        written = write_generated(pd)
    except SegmentError as exc:
        _fail(exc)
    for p in written:
        console.print(f"wrote {p}", soft_wrap=True, highlight=False)
    console.print(f"[green]{len(written)} file(s) changed[/green]")


@app.command()
def preview(
    name: str,
    project_dir: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
    as_of: Annotated[str | None, typer.Option(help="'now' for relative dates, e.g. 2026-01-31")] = None,
    sample: Annotated[int, typer.Option(help="sample members to show")] = 5,
) -> None:
    """Size, sample members and overlap with the other segments, computed from the current definition."""
    from outflow.segments.preview import preview_segment

    pd = project_dir or default_project_dir()
    try:
        result = preview_segment(name, pd, warehouse, as_of=as_of, sample=sample)
    except SegmentError as exc:
        _fail(exc)
    console.print(f"[bold]{name}[/bold]: {result.size} members (as of {result.as_of})")
    if result.sample_rows:
        t = Table(*result.sample_columns, title="sample")
        for row in result.sample_rows:
            t.add_row(*["" if v is None else str(v) for v in row])
        console.print(t)
    t = Table("other segment", "its size", "overlap", f"% of {name}", title="overlap")
    for other, size, both in result.overlaps:
        pct = f"{100 * both / result.size:.1f}" if result.size else "-"
        t.add_row(other, str(size), str(both), pct)
    console.print(t)
