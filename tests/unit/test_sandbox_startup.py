"""`outflow sandbox > file` shows the URLs at once: the command lives apart from the sync engine, so by the time
it prints the URL table it has loaded only the sandboxes, never sqlglot, polars, the engine, dbt or Dagster (what
made it take seconds), nor the HTTP client, jsonschema or phonenumbers (loaded at a sandbox's first
request). Checked in a real process, at the moment the table is printed; deterministic, untimed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HEAVY = (
    "sqlglot",
    "polars",
    "activations.engine",
    "dagster",
    "dbt",
    "duckdb",
    "httpx",
    "jsonschema",
    "phonenumbers",
)
SPY = f"""
import sys
from rich.table import Table
from outflow import console as c

printed = c.OutflowConsole.print


def spy(self, *objects, **kw):
    if any(isinstance(o, Table) for o in objects):
        heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
        sys.stderr.write(f"loaded when the URLs were printed: {{heavy}}\\n")
        sys.stderr.flush()
    printed(self, *objects, **kw)


c.OutflowConsole.print = spy
from outflow.cli import run
run()
"""


def test_the_urls_are_printed_before_anything_heavy_is_loaded(tmp_path: Path) -> None:
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", SPY, "sandbox", "--port-base", "0"], stdout=stdout,
                                stderr=stderr)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "serving" not in out.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert "serving" in out.read_text(), out.read_text() + err.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "loaded when the URLs were printed: []" in err.read_text(), err.read_text()
    assert any(line.startswith("webhook\thttp://127.0.0.1:") for line in out.read_text().splitlines())
