from typer.testing import CliRunner

from outflow.cli import app


def test_version_prints():
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert "outflow" in result.stdout
