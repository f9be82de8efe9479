"""The `outflow` command line."""

from __future__ import annotations

import typer
from rich.console import Console

from outflow import __version__
from outflow.segments.cli import app as segment_app

app = typer.Typer(help="Outflow: warehouse-native marketing automation.", no_args_is_help=True)
console = Console()
app.add_typer(segment_app, name="segment")


@app.callback()
def main() -> None:
    """Outflow: warehouse-native marketing automation."""


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"outflow {__version__}")
