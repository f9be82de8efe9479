"""Subcommands are imported only when used; `outflow --help` lists them with their own help."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from outflow.cli import LAZY, app
from outflow.lazy_cli import to_click

HEAVY = ("sklearn", "scipy", "pandas", "xgboost", "great_expectations", "activations.engine", "dagster", "dbt")


@pytest.mark.parametrize("name", sorted(LAZY))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    entry = LAZY[name]
    assert to_click(name, entry.load()).help.strip() == entry.help


def test_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from outflow.cli import app\n"
        "out = CliRunner().invoke(app, ['--help'], terminal_width=200).output\n"
        "print(out)\n"
        f"print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "LOADED []"
    for name, entry in LAZY.items():
        assert name in out and entry.help.split(".")[0][:40] in out


def test_a_lazy_group_runs_its_subcommands() -> None:
    result = CliRunner().invoke(app, ["sync", "--help"])
    assert result.exit_code == 0
    assert "reconcile" in result.output and "run" in result.output
