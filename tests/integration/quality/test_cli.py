"""``outflow check``: a rich table, exit 1 on a blocking failure, 0 on clean data (on each target)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from outflow.cli import app
from outflow.warehouse import connect

AS_OF = ["--as-of", "2026-06-01T12:00:00"]


def test_check_exits_zero_on_clean_data_and_one_on_a_blocking_failure(quality_where: str) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check", "activation", "--warehouse", quality_where, *AS_OF])
    assert ok.exit_code == 0, ok.output
    assert "OK: no blocking check failed" in ok.output and "report:" in ok.output

    con = connect(quality_where)
    con.execute("update main.sync_email_newsletter set email = 'broken' where person_id = 'p2'")
    con.close()
    bad = runner.invoke(app, ["check", "sync_email_newsletter", "--warehouse", quality_where, *AS_OF])
    assert bad.exit_code == 1
    assert "email_valid" in bad.output and "BLOCKED" in bad.output and "1 / 40" in bad.output


def test_check_plan_and_an_unknown_asset(quality_where: str) -> None:
    runner = CliRunner()
    plan = runner.invoke(app, ["check", "raw.orders", "--plan", "--warehouse", quality_where])
    assert plan.exit_code == 0 and "order_id_unique" in plan.output
    unknown = runner.invoke(app, ["check", "sync_nope", "--warehouse", quality_where])
    assert unknown.exit_code == 1 and "unknown asset 'sync_nope'" in unknown.output
    assert "Traceback" not in unknown.output


def test_check_on_a_missing_duckdb_file(tmp_path: Path) -> None:
    """A file that is not there (PostgreSQL's unreachable server: tests/integration/warehouse/test_config_errors.py)."""
    missing = CliRunner().invoke(app, ["check", "--warehouse", str(tmp_path / "nope.duckdb")])
    assert missing.exit_code == 1 and "no warehouse at" in missing.output and "Traceback" not in missing.output
