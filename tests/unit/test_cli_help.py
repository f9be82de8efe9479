"""`--help` without type noise: no ``<bool>`` after a flag and no ``<list[str]>`` after an argument, on every
command (walked as the CLI resolves them, lazy subcommands included)."""

import pytest
from typer.testing import CliRunner

from outflow.cli import app
from tests.unit.test_cli_empty_warehouse import COMMANDS


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_help_has_no_type_noise(path: tuple[str, ...]) -> None:
    out = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "Usage: " in out.output
    assert "<bool>" not in out.output and "<list[" not in out.output, out.output
