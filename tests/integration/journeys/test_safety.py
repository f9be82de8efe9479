"""Journeys under change and failure, through the harness: a process killed mid-evaluation re-runs with no double
advance and no double send; split arms stay put when the percentages change; a live edit moves the people on a
removed step to its declared fallback (or out), logged."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from activations.journeys.engine import CRASH_ENV
from activations.journeys.simulate import path_of, simulate
from outflow.warehouse import connect
from tests.integration.journeys.conftest import DAY0, journey
from tests.warehouse_fixtures import Location, fresh_database, with_database

DRIP = """
name: drip
description: d
owner: o
entry: {segment: customers}
steps:
  - id: first
    send: {sync: journey_messages_braze, message: first}
  - id: wait
    delay: 1 day
  - id: second
    send: {sync: journey_messages_braze, message: second}
"""

_KILLED = """
import sys
from datetime import datetime, timedelta
from activations.journeys.spec import load_journey
from activations.journeys.simulate import simulate
from outflow.warehouse import connect
j = load_journey(sys.argv[2], segments={"customers"})
with connect(sys.argv[1]) as wh:
    simulate(wh, j, datetime.fromisoformat(sys.argv[3]), datetime.fromisoformat(sys.argv[4]), timedelta(hours=12))
"""


def _history(path):
    with connect(path) as wh:
        return wh.execute(
            "select person_id, from_step, to_step, reason, moved_at from outflow_journeys_sim.journey_history "
            "order by 1, 5, 2 nulls first"
        ).fetchall(), wh.execute(
            "select idempotency_key, person_id, message from outflow_journeys_sim.journey_sends order by 1"
        ).fetchall()


def _copy(loc: Location, tmp_path: Path) -> str:
    """A second warehouse with the same tables: the file copied, or a database made from this one."""
    if loc.path is not None:
        shutil.copy(loc.path, tmp_path / "clean.duckdb")
        return str(tmp_path / "clean.duckdb")
    server = with_database(str(loc.url), "postgres")
    return fresh_database(server, template=urlsplit(str(loc.url)).path.lstrip("/"))


def test_a_process_killed_mid_evaluation_reruns_with_no_double_advance_or_send(people, tmp_path):
    for i in range(30):
        people.person(f"p{i:02d}")
        people.enters_segment(f"p{i:02d}", "customers", 0.2 + i / 100)
    people.wh.close()
    crashed = people.location.ref
    clean = _copy(people.location, tmp_path)
    (tmp_path / "drip.yml").write_text(DRIP)
    j = journey(tmp_path, DRIP, "drip.yml")
    start, end = DAY0, DAY0 + timedelta(days=3)

    with connect(clean) as wh:  # the same replay, never interrupted
        simulate(wh, j, start, end, timedelta(hours=12))
    # killed (os._exit, no clean-up) after the evaluation inserted its sends, before it committed
    for point, at in (("after_send", start + timedelta(hours=12)), ("before_commit", start + timedelta(days=2))):
        env = {**os.environ, CRASH_ENV: point}
        args = [crashed, str(tmp_path / "drip.yml"), start.isoformat(), end.isoformat()]
        proc = subprocess.run([sys.executable, "-c", _KILLED, *args], env=env, capture_output=True, text=True)
        assert proc.returncode == 75, proc.stderr
        with connect(crashed) as wh:  # what committed before the kill stays; the killed evaluation left nothing
            last = wh.execute("select max(as_of) from outflow_journeys_sim.journey_runs").fetchone()[0]
            assert last is None or last < at
            simulate(wh, j, start, at - timedelta(hours=12), timedelta(hours=12), fresh=False)
    with connect(crashed) as wh:
        simulate(wh, j, start, end, timedelta(hours=12), fresh=False)  # the re-run: already-done ticks are no-ops
    history, sends = _history(crashed)
    assert (history, sends) == _history(clean)
    assert len(sends) == 60 and len({k for k, _, _ in sends}) == 60  # two sends each, each once


SPLIT = """
name: ab
description: d
owner: o
entry: {segment: customers}
steps:
  - id: first_email
    split:
      - {arm: a, percent: {a}, next: email_a}
      - {arm: b, percent: {b}, next: email_b}
  - id: email_a
    send: {sync: journey_messages_braze, message: a}
    next: exit
  - id: email_b
    send: {sync: journey_messages_braze, message: b}
"""


def test_split_arms_are_stable_when_the_percentages_change(people, tmp_path):
    ids = [f"p{i:04d}" for i in range(400)]
    for pid in ids:
        people.enters_segment(pid, "customers", 0.5)

    def arms(a: int) -> dict[str, str]:
        j = journey(tmp_path, SPLIT.replace("{a}", str(a)).replace("{b}", str(100 - a)), f"ab{a}.yml")
        simulate(people.wh, j, DAY0 + timedelta(days=1), DAY0 + timedelta(days=1))
        rows = people.wh.execute(
            "select person_id, reason from outflow_journeys_sim.journey_history where from_step = 'first_email'"
        ).fetchall()
        return dict(rows)

    at50, at60, again50 = arms(50), arms(60), arms(50)
    assert at50 == again50  # stable: the same person, the same arm, every time
    assert 170 < sum(v == "split a" for v in at50.values()) < 230
    moved = {p for p in ids if at50[p] != at60[p]}
    assert all(at50[p] == "split b" and at60[p] == "split a" for p in moved)  # only b -> a, never a -> b
    assert 20 < len(moved) < 60  # about the 10% whose bucket lies between 50 and 60


def test_editing_a_live_journey_moves_people_on_removed_steps_to_the_fallback(people, tmp_path):
    wh = people.wh
    for pid in ("a", "b"):
        people.person(pid)
        people.enters_segment(pid, "customers", 0.5)
    v1 = journey(tmp_path, DRIP.replace("delay: 1 day", "delay: 10 days"), "v1.yml")
    simulate(wh, v1, DAY0 + timedelta(days=1), DAY0 + timedelta(days=2), timedelta(days=1))
    assert wh.execute("select step from outflow_journeys_sim.journey_state").fetchall() == [("wait",), ("wait",)]
    # v2: the long wait is gone; its people go to `last_call` instead
    v2 = journey(
        tmp_path,
        """
name: drip
description: d
owner: o
entry: {segment: customers}
removed_steps: {wait: last_call}
steps:
  - id: first
    send: {sync: journey_messages_braze, message: first}
  - id: last_call
    send: {sync: journey_messages_braze, message: last_call}
""",
        "v2.yml",
    )
    simulate(wh, v2, DAY0 + timedelta(days=3), DAY0 + timedelta(days=3), fresh=False)
    assert path_of(wh, "drip", "a") == [
        ("first", "entered: segment customers"),
        ("wait", "sent first"),
        ("last_call", "step removed: wait -> last_call"),
        ("(left)", "sent last_call"),
    ]
    # v3 drops last_call with no fallback: anyone on it leaves, logged
    people.person("c")
    people.enters_segment("c", "customers", 3.5)
    v3 = journey(tmp_path, DRIP.replace("delay: 1 day", "delay: 10 days"), "v3.yml")
    simulate(wh, v3, DAY0 + timedelta(days=4), DAY0 + timedelta(days=4), fresh=False)
    v4 = journey(tmp_path, DRIP.replace("  - id: wait\n    delay: 1 day\n", ""), "v4.yml")
    simulate(wh, v4, DAY0 + timedelta(days=5), DAY0 + timedelta(days=5), fresh=False)
    assert path_of(wh, "drip", "c")[-1] == ("(left)", "step removed: wait -> exit")
