"""Journeys played forward through the time-travel harness, on DuckDB and PostgreSQL: the issue's example, every
step type, goals, exit criteria, timeouts, re-entry, the concurrent-journeys cap."""

from __future__ import annotations

from datetime import timedelta

from activations.journeys.simulate import path_of, simulate
from tests.integration.journeys.conftest import DAY0, journey

ONBOARDING = """
name: onboarding
description: Welcome email, a reminder if it is not opened in 3 days, tips on day 7; done when they buy.
owner: lifecycle@example.com
entry: {event: signup}
goals: [{event: order_completed}]
steps:
  - id: welcome
    send: {sync: journey_messages_braze, message: welcome}
  - id: wait_open
    hold_until: {condition: {event: open}, timeout: 3 days, on_timeout: reminder}
    next: wait_day7
  - id: reminder
    send: {sync: journey_messages_braze, message: reminder}
  - id: wait_day7
    delay: 5 days
  - id: day7
    send: {sync: journey_messages_braze, message: day7_tips}
"""


def _sends(wh, person: str, schema: str = "outflow_journeys_sim") -> list[str]:
    rows = wh.execute(
        f"select message from {schema}.journey_sends where person_id = ? order by emitted_at", [person]
    ).fetchall()
    return [r[0] for r in rows]


def test_signup_open_buy_gets_welcome_skips_reminder_and_exits_at_goal(people, tmp_path):
    j = journey(tmp_path, ONBOARDING)
    buyer = people.person("buyer")
    people.event(buyer, "signup", 0.4)
    people.event(buyer, "open", 2.1)
    people.event(buyer, "order_completed", 5.2)
    silent = people.person("silent")  # never opens, never buys: reminder at day 3, tips later
    people.event(silent, "signup", 0.4)
    reader = people.person("reader")  # opens on day 2, never buys: tips 5 days after opening
    people.event(reader, "signup", 0.4)
    people.event(reader, "open", 2.1)

    sim = simulate(people.wh, j, DAY0, DAY0 + timedelta(days=10), timedelta(hours=1))

    assert path_of(people.wh, "onboarding", buyer) == [
        ("welcome", "entered: event signup"),
        ("wait_open", "sent welcome"),
        ("wait_day7", "condition met"),
        ("(left)", "goal: order_completed"),
    ]
    assert _sends(people.wh, buyer) == ["welcome"]  # never the reminder, never the day-7 email
    assert _sends(people.wh, silent) == ["welcome", "reminder", "day7_tips"]
    assert [p for p, _ in path_of(people.wh, "onboarding", silent)][-1] == "(left)"
    assert ("reminder", "timeout") in path_of(people.wh, "onboarding", silent)
    assert _sends(people.wh, reader) == ["welcome", "day7_tips"]
    counts = {c.step: c for c in sim.steps}
    assert counts["welcome"].entered == 3
    assert counts["wait_open"].waited == 3
    assert counts["reminder"].entered == 1
    assert counts["wait_day7"].goal == 1
    assert counts["day7"].exited == 2
    assert sim.sends == 6
