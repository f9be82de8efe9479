"""The loader reads the dataset's date from the folder's AS_OF file and says which date commands will use."""

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from outflow.cli import app
from outflow.warehouse import connect

ORDERS = (
    "order_id,email,phone,user_id,amount,currency,status,ordered_at\no1,a@x.com,,u1,10.5,EUR,completed,2026-01-02\n"
)
ARGS = ["--allow-empty", "consent_events,erasure_requests"]


def _folder(tmp_path: Path, as_of: str | None) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "orders.csv").write_text(ORDERS)
    if as_of is not None:
        (folder / "AS_OF").write_text(as_of)
    return folder


def test_load_reports_the_dataset_date(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    folder = _folder(tmp_path, "2026-01-31\n")
    result = CliRunner().invoke(app, ["load", str(folder), *ARGS])
    assert result.exit_code == 0, result.output
    assert "dataset date: 2026-01-31" in result.output and "end of that day" in result.output
    with connect(tmp_path / "wh.duckdb", read_only=True) as con:
        from outflow.asof import resolve_as_of

        at = resolve_as_of(None, con)
    assert str(at.moment) == "2026-02-01 00:00:00" and at.source == "loaded dataset"


def test_load_without_as_of_file_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    result = CliRunner().invoke(app, ["load", str(_folder(tmp_path, None)), *ARGS])
    assert result.exit_code == 0, result.output
    assert "no AS_OF file" in result.output


def test_a_bad_as_of_file_is_one_line_naming_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    folder = _folder(tmp_path, "31/01/2026")
    env = {**os.environ, "OUTFLOW_WAREHOUSE": str(tmp_path / "w.duckdb")}
    proc = subprocess.run(
        [sys.executable, "-c", "from outflow.cli import run; run()", "load", str(folder), *ARGS],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert f"{folder / 'AS_OF'}: '31/01/2026' is not a date; write the dataset's date as YYYY-MM-DD" in proc.stdout
