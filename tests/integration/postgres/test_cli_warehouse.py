"""``--warehouse`` takes a DuckDB file or a ``postgresql://`` URL on every command that has it; anything else,
or a URL it cannot reach, is one line naming ``--warehouse``, with no traceback and no password. (The URL
working end to end: tests/integration/privacy/test_reconcile.py runs ``sync run`` and ``sync reconcile`` with
``--warehouse <URL>``, test_privacy_postgres.py ``privacy erase`` and ``privacy report``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.warehouse.test_config_errors import SECRET, _closed_port, assert_one_line, outflow

COMMANDS = [
    ["check"],
    ["sync", "run", "anything"],
    ["sync", "reconcile", "anything"],
    ["privacy", "erase"],
    ["privacy", "report", "someone@example.com"],
    ["score", "train"],
    ["segment", "preview", "engaged_leads"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_a_value_that_is_not_a_warehouse(args: list[str], tmp_path: Path) -> None:
    code, out = outflow(*args, "--warehouse", f"mysql://outflow:{SECRET}@127.0.0.1/x", env={}, tmp_path=tmp_path)
    assert_one_line(code, out, "--warehouse", "neither a DuckDB file nor a PostgreSQL URL", "mysql://outflow:***@")


@pytest.mark.parametrize("args", [COMMANDS[0], COMMANDS[3], COMMANDS[4], COMMANDS[5], COMMANDS[6]], ids=str)
def test_an_unreachable_postgres_url(args: list[str], tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql://outflow:{SECRET}@127.0.0.1:{port}/x"
    code, out = outflow(*args, "--warehouse", url, env={}, tmp_path=tmp_path)
    assert_one_line(code, out, "check --warehouse", f"127.0.0.1:{port}", "Connection refused")
    assert "OUTFLOW_POSTGRES_URL" not in out  # the user named the database with --warehouse
