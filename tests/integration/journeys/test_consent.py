"""Journey sends leave through the sync engine: on the demo build (each target), a journey sends to a person with
email consent and to one without; the Braze sandbox receives only the first, once, carrying the journey's and
step's ids, and a second sync run sends nothing again."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from activations.config import find_sync
from activations.engine import run_sync
from activations.journeys.engine import SCHEMA
from activations.journeys.simulate import replay
from activations.sandboxes.triggers import BrazeSandbox
from outflow.warehouse import connect
from tests.integration.journeys.conftest import journey

PING = """
name: ping
description: d
owner: o
entry: {event: journey_test}
steps:
  - id: hello
    send: {sync: journey_messages_braze, message: hello}
"""


def test_a_person_without_consent_is_not_sent(demo_warehouse, tmp_path, monkeypatch):
    path = demo_warehouse.ref  # a copy of the demo build, on each target
    at = datetime(2026, 11, 1, 12)
    with connect(path) as wh:
        usable = (
            "p.email is not null and p.email <> '' "
            "and p.person_id not in (select person_id from main.erased_persons) "
            "and p.person_id not in (select person_id from main.excluded_persons) "
            "and p.person_id not in (select person_id from main.int_consent__suppressions)"
        )
        granted = "select person_id from main.dim_consent where channel = 'email' and purpose = 'marketing'"
        yes = wh.execute(
            f"select min(p.person_id) from main.dim_profiles p where {usable} and p.person_id in ({granted} "
            "and is_granted)"
        ).fetchone()[0]
        no = wh.execute(
            f"select min(p.person_id) from main.dim_profiles p where {usable} and p.person_id not in ({granted} "
            "and is_granted)"
        ).fetchone()[0]
        assert yes and no
        for i, pid in enumerate((yes, no)):
            wh.execute(
                "insert into main.fct_events (event_id, person_id, source, event_type, occurred_at) "
                "values (?, ?, 'web', 'journey_test', ?)",
                [f"jt{i}", pid, at - timedelta(hours=1)],
            )
        replay(wh, journey(tmp_path, PING), at, at, timedelta(hours=1), schema=SCHEMA)
        emitted = {r[0] for r in wh.execute(f"select person_id from {SCHEMA}.journey_sends").fetchall()}
        assert emitted == {yes, no}  # the journey emitted both sends; the gate decides what leaves

    token = secrets.token_hex(8)
    with BrazeSandbox(token=token) as sb:
        base = find_sync("journey_messages_braze")
        cfg = base.model_copy(update={"destination": base.destination.model_copy(update={"base_url": sb.url})})
        monkeypatch.setenv(cfg.destination.secret_env, token)
        first = run_sync(cfg, warehouse=path)
        again = run_sync(cfg, warehouse=path)
        events = sb.events()
    assert first.status == "success" and first.acked == 1
    assert [e["external_id"] for e in events] == [yes]
    assert events[0]["name"] == "journey:ping:hello"
    assert events[0]["properties"]["journey_id"] == "ping" and events[0]["properties"]["step_id"] == "hello"
    assert again.to_send == 0 and len(events) == 1  # insert mode: each idempotency key fires once
