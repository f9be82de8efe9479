"""Two processes running dbt on one project: the second waits for the first to leave the target folder (where
dbt writes its manifest and partial parse), with a warning, and then runs; with its own DBT_TARGET_PATH it would
not wait."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from outflow.build import DbtRun, run_dbt

HOLD = """
import sys
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("holding", flush=True)
sys.stdin.readline()  # until the test says so
lock.release()
"""


def test_a_second_dbt_command_waits_for_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))  # an absolute path: this test's own target folder
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(target / ".outflow-dbt.lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    done: list[DbtRun] = []
    caplog.set_level(logging.WARNING, logger="outflow.build")
    parse = threading.Thread(target=lambda: done.append(run_dbt(["parse"], warehouse=tmp_path / "w.duckdb")))
    try:
        parse.start()
        parse.join(timeout=5)
        assert parse.is_alive() and not done and not (target / "manifest.json").exists()  # still waiting
        assert "another dbt command is running on this project" in caplog.text
    finally:
        holder.communicate("go\n", timeout=30)
    parse.join(timeout=300)
    assert done and done[0].success and (target / "manifest.json").exists()
