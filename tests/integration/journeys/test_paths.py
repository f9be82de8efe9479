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


STEP_TYPES = """
name: types
description: every step type
owner: o@example.com
entry: {segment: hot_leads}
steps:
  - id: route
    branch:
      - when: {field: lead_score, op: ">=", value: 80}
        next: mark
      - when: {in_segment: customers}
        next: bye
      - default: ab
  - id: mark
    update: {trait: lifecycle_stage, value: sales_ready}
  - id: handoff
    send: {sync: journey_sales_handoff_hubspot, message: handoff}
    next: exit
  - id: ab
    split:
      - {arm: a, percent: 50, next: later}
      - {arm: b, percent: 50, next: bye}
  - id: later
    delay: 2 days
  - id: bye
    exit: true
"""


def test_every_step_type(people, tmp_path):
    j = journey(tmp_path, STEP_TYPES)
    hot = people.person("hot", score=90)
    buyer = people.person("buyer")
    people.enters_segment(buyer, "customers", 0)
    crowd = [people.person(f"c{i:02d}") for i in range(16)]
    for p in [hot, buyer, *crowd]:
        people.enters_segment(p, "hot_leads", 0.2)

    simulate(people.wh, j, DAY0, DAY0 + timedelta(days=4), timedelta(hours=12))
    wh = people.wh

    assert [s for s, _ in path_of(wh, "types", hot)] == ["route", "mark", "handoff", "(left)"]
    assert path_of(wh, "types", hot)[1] == ("mark", "branch 0")
    sends = wh.execute("select step, model, message from outflow_journeys_sim.journey_sends").fetchall()
    assert sends == [("handoff", "sync_journey_sales_handoff", "handoff")]
    traits = wh.execute("select person_id, trait, value from outflow_journeys_sim.journey_traits").fetchall()
    assert traits == [("hot", "lifecycle_stage", "sales_ready")]
    assert path_of(wh, "types", buyer) == [
        ("route", "entered: segment hot_leads"),
        ("bye", "branch 1"),
        ("(left)", "exit step"),
    ]
    arms = {p: path_of(wh, "types", p)[2] for p in crowd}
    assert {a for a in arms.values()} == {("later", "split a"), ("bye", "split b")}
    for p, (step, _) in arms.items():
        path = [s for s, _ in path_of(wh, "types", p)]
        # arm a waits two days on the delay, then leaves through the exit step; arm b leaves at once
        assert path == (
            ["route", "ab", "later", "bye", "(left)"] if step == "later" else ["route", "ab", "bye", "(left)"]
        )
    waited = wh.execute(
        "select min(moved_at), max(moved_at) from outflow_journeys_sim.journey_history where from_step = 'later'"
    ).fetchone()
    assert waited[0] - DAY0 == timedelta(days=2, hours=12)  # entered at 12:00 on day 0, delay of 2 days


def test_delay_until_a_time_of_day_in_the_persons_time_zone(people, tmp_path):
    j = journey(
        tmp_path,
        """
name: morning
description: d
owner: o
entry: {segment: customers}
steps:
  - id: nine_am
    delay: {until: "09:00"}
  - id: hello
    send: {sync: journey_messages_braze, message: good_morning}
""",
    )
    for pid, tz in (("ny", "America/New_York"), ("tokyo", "Asia/Tokyo"), ("unknown", None)):
        people.person(pid, tz=tz)
        people.enters_segment(pid, "customers", 0.4)
    simulate(people.wh, j, DAY0 + timedelta(hours=12), DAY0 + timedelta(days=2), timedelta(hours=1))
    sent = dict(people.wh.execute("select person_id, emitted_at from outflow_journeys_sim.journey_sends").fetchall())
    assert sent["ny"] == DAY0 + timedelta(hours=14)  # 09:00 EST (UTC-5) on 2 March
    assert sent["tokyo"] == DAY0 + timedelta(days=1)  # 21:00 in Tokyo at entry: 09:00 next morning = 00:00 UTC
    assert sent["unknown"] == DAY0 + timedelta(days=1, hours=9)  # no time zone: UTC


REENTRY = """
name: hello
description: d
owner: o
entry: {segment: customers}
reentry: {reentry}
steps:
  - id: hello
    send: {sync: journey_messages_braze, message: hello}
  - id: bye
    exit: true
"""


def test_reentry_rules(people, tmp_path):
    p = people.person("p")
    for start, end in ((0, 3), (5, 8), (40, None)):
        people.enters_segment(p, "customers", start, end)
    entries = {}
    for rule in ("never", "30 days", "always"):
        j = journey(tmp_path, REENTRY.replace("{reentry}", rule), f"{rule.replace(' ', '')}.yml")
        simulate(people.wh, j, DAY0, DAY0 + timedelta(days=45), timedelta(days=1))
        rows = people.wh.execute(
            "select moved_at from outflow_journeys_sim.journey_history where from_step is null order by 1"
        ).fetchall()
        entries[rule] = [(r[0] - DAY0).days for r in rows]
    assert entries == {"never": [0], "30 days": [0, 40], "always": [0, 5, 40]}
    keys = people.wh.execute("select count(distinct idempotency_key) from outflow_journeys_sim.journey_sends")
    assert keys.fetchone()[0] == 3  # each entry's send has its own key


def test_exit_criteria_and_the_cap_on_concurrent_journeys(people, tmp_path):
    long = journey(
        tmp_path,
        """
name: long
description: d
owner: o
entry: {segment: customers}
exit_when: [{event: unsubscribe}]
steps:
  - id: wait
    delay: 3 days
  - id: hello
    send: {sync: journey_messages_braze, message: hello}
""",
        "long.yml",
    )
    capped = journey(
        tmp_path,
        """
name: capped
description: d
owner: o
entry: {segment: customers}
max_concurrent_journeys: 1
steps:
  - id: hello
    send: {sync: journey_messages_braze, message: hi}
""",
        "capped.yml",
    )
    wh = people.wh
    for pid in ("stays", "quits"):
        people.person(pid)
        people.enters_segment(pid, "customers", 0.5)
    people.event("quits", "unsubscribe", 1.5)
    simulate(wh, long, DAY0, DAY0 + timedelta(days=1), timedelta(hours=6))
    # both are on `long`'s delay (one journey): `capped` (at most one journey at once) admits neither
    simulate(wh, capped, DAY0 + timedelta(days=1), DAY0 + timedelta(days=1), timedelta(hours=6))
    simulate(wh, long, DAY0 + timedelta(days=1, hours=6), DAY0 + timedelta(days=5), timedelta(hours=6), fresh=False)
    assert path_of(wh, "long", "quits")[-1] == ("(left)", "exit criteria: unsubscribe")
    assert _sends(wh, "quits") == []
    assert _sends(wh, "stays") == ["hello"]
    assert path_of(wh, "capped", "stays") == [] and path_of(wh, "capped", "quits") == []


def test_pause_keeps_state_and_drain_admits_no_one(people, tmp_path):
    from activations.journeys.engine import set_control
    from activations.journeys.simulate import SIM_SCHEMA

    j = journey(
        tmp_path,
        """
name: slow
description: d
owner: o
entry: {segment: customers}
steps:
  - id: wait
    delay: 2 days
  - id: hello
    send: {sync: journey_messages_braze, message: hello}
""",
    )
    wh = people.wh
    people.person("early")
    people.enters_segment("early", "customers", 0.5)
    people.person("late")
    people.enters_segment("late", "customers", 5.5)
    simulate(wh, j, DAY0, DAY0 + timedelta(days=1), timedelta(hours=12))
    set_control(wh, "slow", "paused", schema=SIM_SCHEMA)
    simulate(wh, j, DAY0 + timedelta(days=1, hours=12), DAY0 + timedelta(days=4), timedelta(hours=12), fresh=False)
    state = wh.execute("select person_id, step, status from outflow_journeys_sim.journey_state").fetchall()
    assert state == [("early", "wait", "active")]  # paused: still waiting though the delay is long over
    set_control(wh, "slow", "draining", schema=SIM_SCHEMA)
    simulate(wh, j, DAY0 + timedelta(days=4, hours=12), DAY0 + timedelta(days=8), timedelta(hours=12), fresh=False)
    assert _sends(wh, "early") == ["hello"]  # draining: the people in it carry on
    assert path_of(wh, "slow", "late") == []  # ... and nobody new enters
