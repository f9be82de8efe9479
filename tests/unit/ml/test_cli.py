from __future__ import annotations

from typer.testing import CliRunner

from outflow.cli import app


def test_score_commands_end_to_end(small_warehouse, tmp_path, monkeypatch):
    db = small_warehouse.execute("pragma database_list").fetchall()[0][2]
    small_warehouse.close()
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", db)
    monkeypatch.setenv("OUTFLOW_MODEL_REGISTRY", str(tmp_path / "models"))
    runner = CliRunner()

    missing = runner.invoke(app, ["score", "report"])
    assert missing.exit_code == 1
    assert "no models in" in missing.stdout and "Traceback" not in missing.stdout

    trained = runner.invoke(app, ["score", "train"])
    assert trained.exit_code == 0, trained.stdout
    assert "promoted" in trained.stdout and "ROC AUC" in trained.stdout

    scored = runner.invoke(app, ["score", "run", "--as-of", "2026-01-15"])
    assert scored.exit_code == 0, scored.stdout
    assert "main.ml_lead_scores" in scored.stdout
    assert "as of 2026-01-15 (end of day, UTC; from --as-of)" in scored.stdout  # every command says its as-of
    assert "as of" in trained.stdout

    report = runner.invoke(app, ["score", "report"])
    assert report.exit_code == 0, report.stdout
    assert "calibration" in report.output and "fairness" in report.output  # table titles: on stderr when piped
    assert "recency" in report.output and "frequency" in report.output and "wins" in report.output

    # the lead score is one model config: `outflow model ... lead_score` reads the same registry
    alias = runner.invoke(app, ["model", "report", "lead_score"])
    assert alias.exit_code == 0, alias.output
    assert alias.output == report.output


def test_score_missing_warehouse_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(tmp_path / "nope.duckdb"))
    result = CliRunner().invoke(app, ["score", "run"])
    assert result.exit_code == 1
    assert "does not exist" in result.stdout
