"""Checks decided without Great Expectations (data_quality/fast.py) give exactly GX's results."""

from __future__ import annotations

import pytest

from data_quality import fast, runner
from data_quality.config import load_config
from outflow.warehouse import Warehouse
from tests.integration.quality.test_checks import AS_OF


def test_fast_path_gives_the_results_of_gx(con: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config()
    # failures for GX to sample, beside the checks that pass
    con.execute("update main.sync_email_newsletter set person_id = null where email = 'person3@example.com'")
    con.execute("update main.sync_email_newsletter set email = 'not an email' where email = 'person5@example.com'")
    specs, _ = runner.plan(con, runner.resolve_assets(con, None), cfg, AS_OF)
    assert {s.expectation for s in specs} >= set(fast.HANDLED)
    quick = runner.execute(con, specs, cfg)
    decided = [s for s in specs if not s.skip and fast.passed(s.expectation, s.kwargs, con.fetch_arrow(s.frame))]
    assert len(decided) >= 10
    assert {r.status for r in quick} >= {runner.PASSED, runner.FAILED}
    assert sum(r.status == runner.FAILED for r in quick) >= 2

    monkeypatch.setattr(fast, "passed", lambda *a: None)  # every check through GX, as before
    slow = runner.execute(con, specs, cfg)
    for a, b in zip(slow, quick, strict=True):
        assert a == b, (a, b)


def test_a_passing_sync_gate_builds_no_gx_context(con: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_gx", lambda: pytest.fail("a GX context was built"))
    cfg = load_config()
    specs, _ = runner.plan(con, ["sync_email_newsletter"], cfg, AS_OF)
    results = runner.execute(con, specs, cfg)
    assert results and all(r.status in (runner.PASSED, runner.SKIPPED) for r in results)
