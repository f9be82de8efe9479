"""`outflow journey simulate | evaluate | status | history | pause` on a hand-made warehouse."""

from __future__ import annotations

from typer.testing import CliRunner

from outflow.cli import app
from tests.integration.journeys.conftest import journey
from tests.integration.journeys.test_paths import ONBOARDING


def _run(*args: str) -> str:
    """The command's output with whitespace collapsed: tables come as tab-separated rows (not a terminal)."""
    result = CliRunner().invoke(app, ["journey", *args], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_simulate_status_history_and_pause(people, tmp_path, monkeypatch):
    buyer = people.person("buyer")
    people.event(buyer, "signup", 0.4)
    people.event(buyer, "open", 2.1)
    people.event(buyer, "order_completed", 5.2)
    people.wh.close()
    for name, value in people.location.env().items():
        monkeypatch.setenv(name, value)
    jdir = tmp_path / "journeys"
    jdir.mkdir()
    journey(jdir, ONBOARDING, "onboarding.yml")

    out = _run(
        "simulate", "onboarding", "--from", "2026-03-02", "--to", "2026-03-09", "--step", "6h", "--dir", str(jdir)
    )
    assert "welcome send 1 0 - 0 0 0 buyer" in out
    assert "wait_day7 delay 1 1 - 0 1 0 buyer" in out  # waited there, then met the goal
    assert "32 evaluations, 1 sends; transitions in outflow_journeys_sim.journey_history" in out
    # without --to the replay runs to the as-of date, which it prints (a bare date: the end of that day)
    out = _run(
        "simulate", "onboarding", "--from", "2026-03-02", "--as-of", "2026-03-09", "--step", "6h", "--dir", str(jdir)
    )
    assert "as of 2026-03-09 (end of day, UTC; from --as-of)" in out and "1 sends" in out

    out = _run("evaluate", "onboarding", "--at", "2026-03-03T00:00", "--dir", str(jdir))
    assert "onboarding: ok; admitted 1, moved 1, left 0, sent 1" in out
    assert "wait_open hold_until 1 1 - 0 0 1" in _run("status", "onboarding", "--dir", str(jdir))
    assert "sent welcome" in _run("history", "buyer")

    _run("pause", "onboarding", "--dir", str(jdir))
    assert "onboarding: paused; admitted 0, moved 0" in _run("evaluate", "--at", "2026-03-09", "--dir", str(jdir))
    _run("resume", "onboarding", "--dir", str(jdir))
    assert "moved 0, left 1, sent 0" in _run("evaluate", "--at", "2026-03-09", "--dir", str(jdir))
