"""Scriptable output: piped tables are tab-separated rows under a header, `--output json` parses, and output
written to a file is there while a long-running command still runs."""

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.table import Table
from typer.testing import CliRunner

from activations.config import load_syncs
from outflow.console import OutflowConsole, hoist_output_option


def _outflow(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80"}  # a narrow terminal width must not matter when piped
    return subprocess.run(
        [sys.executable, "-c", "from outflow.cli import run; run()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        **kwargs,
    )


def _tsv(stdout: str) -> list[list[str]]:
    rows = [line.split("\t") for line in stdout.splitlines()]
    assert rows and all(len(row) == len(rows[0]) for row in rows), stdout  # unbroken rows, one per line
    return rows


def test_piped_table_is_tab_separated_with_a_header():
    result = _outflow("sync", "list")
    assert result.returncode == 0, result.stderr
    rows = _tsv(result.stdout)
    assert rows[0][:4] == ["name", "source", "mode", "destination"]
    names = [cfg.name for cfg in load_syncs()]
    assert [row[0] for row in rows[1:]] == names  # every name whole, none wrapped
    assert not any(ch in result.stdout for ch in "│┃━─")


def test_output_json_parses_after_the_command_or_before_it(tmp_path):
    after = _outflow("sync", "list", "--output", "json")
    assert after.returncode == 0, after.stderr
    tables = json.loads(after.stdout)
    assert [row["name"] for row in tables[0]["rows"]] == [cfg.name for cfg in load_syncs()]
    generate = ["generate", "--people", "300", "--seed", "3", "--no-load", "--out", str(tmp_path)]
    before = _outflow("--output=json", *generate)
    assert before.returncode == 0, before.stderr
    (table,) = json.loads(before.stdout)  # what is not a table went to stderr
    counts = {row["table"]: row["rows"] for row in table["rows"]}
    assert counts["crm_contacts"] > 0 and isinstance(counts["crm_contacts"], int)
    assert "Generated 300 people" in table["title"]


def test_a_failing_command_prints_its_error_and_no_json(tmp_path):
    result = _outflow("sync", "reconcile", "nope", "--output", "json")
    assert result.returncode == 1
    assert result.stdout == "" and "no sync named 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_console_writes_tsv_when_not_a_terminal_and_collects_json():
    table = Table("trigger", "people", title="Triggers")
    table.add_row("[bold]trg_cart_abandoned_very_long_name_that_would_wrap[/bold]", "1,071")
    table.add_row("trg_trial\tending", "0.5")
    out = io.StringIO()
    console = OutflowConsole(file=out, width=20)
    console.print(table)
    console.print("a line longer than twenty columns, with http://127.0.0.1:8790/_sandbox/store in it")
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "trigger\tpeople",
        "trg_cart_abandoned_very_long_name_that_would_wrap\t1,071",
        "trg_trial ending\t0.5",
    ]
    assert lines[3].endswith("http://127.0.0.1:8790/_sandbox/store in it")  # one line, not wrapped
    console.start("json")
    console.print(table)
    console.finish()
    (doc,) = json.loads(out.getvalue().splitlines()[-1])
    assert doc["rows"][0]["people"] == 1071 and doc["rows"][1]["people"] == 0.5


def test_output_option_is_moved_to_the_root_only_for_its_formats():
    assert hoist_output_option(["sync", "runs", "--output", "json"]) == ["--output", "json", "sync", "runs"]
    assert hoist_output_option(["report", "--output", "site/"]) == ["report", "--output", "site/"]
    assert hoist_output_option(["load", "--", "--output=json"]) == ["load", "--", "--output=json"]


def test_sandbox_output_reaches_a_file_while_it_runs(tmp_path: Path):
    log = tmp_path / "sandbox.txt"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from outflow.cli import run; run()", "sandbox", "--port-base", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "serving" not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text()  # still serving: the lines were flushed, not buffered
        text = log.read_text()
        rows = [line.split("\t") for line in text.splitlines() if line.startswith("webhook\t")]
        assert rows and rows[0][1].startswith("http://127.0.0.1:") and rows[0][2].endswith("/_sandbox/stats")
        # the exact environment every declared sync needs, with the documented sandbox credentials
        from activations.sandboxes import SANDBOX_TOKEN, SANDBOX_WEBHOOK_SECRET

        assert f"export HUBSPOT_TOKEN={SANDBOX_TOKEN}" in text.splitlines()
        assert f"export OUTFLOW_WEBHOOK_SECRET={SANDBOX_WEBHOOK_SECRET}" in text.splitlines()
        assert any(line.startswith("export TWILIO_ACCOUNT_SID_AND_TOKEN=AC") for line in text.splitlines())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_ui_gives_dagster_the_same_credentials_as_outflow_sandbox(monkeypatch: pytest.MonkeyPatch):
    """`outflow ui` (`make ui`) hands `dagster dev` the documented sandbox credentials that `outflow sandbox`
    prints, so a sync materialized in the UI authenticates as a CLI run does."""
    import activations.sandboxes as sandboxes
    from activations.sandboxes import SANDBOX_TOKEN, SANDBOX_WEBHOOK_SECRET
    from outflow.cli import app

    seen: dict[str, dict[str, str]] = {}
    start_all = sandboxes.start_all
    monkeypatch.setattr(sandboxes, "start_all", lambda **kw: start_all(**{**kw, "port_base": 0}))  # free ports
    monkeypatch.setattr(subprocess, "run", lambda cmd, env, **kw: seen.setdefault("env", env))  # no dagster dev
    monkeypatch.delenv("OUTFLOW_SANDBOX_TOKEN", raising=False)
    monkeypatch.delenv("OUTFLOW_SANDBOX_SECRET", raising=False)
    out = CliRunner().invoke(app, ["ui"])
    assert out.exit_code == 0, out.output
    env = seen["env"]
    assert env["HUBSPOT_TOKEN"] == SANDBOX_TOKEN and env["OUTFLOW_WEBHOOK_SECRET"] == SANDBOX_WEBHOOK_SECRET
    for cfg in load_syncs():  # every declared sync gets its secret
        if cfg.destination.secret_env:
            assert env.get(cfg.destination.secret_env), cfg.name
