"""The `outflow` command line."""

from __future__ import annotations

import typer
from rich.console import Console

from data_quality.cli import check as check_command
from outflow import __version__

app = typer.Typer(help="Outflow: warehouse-native marketing automation.", no_args_is_help=True)
console = Console()
app.command(name="check")(check_command)


@app.callback()
def main() -> None:
    """Outflow: warehouse-native marketing automation."""


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"outflow {__version__}")
