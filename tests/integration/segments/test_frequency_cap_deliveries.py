"""The trigger frequency cap counts what the sync engine delivered, not the trigger rows the models produced.

A copy of the built warehouse syncs trg_lead_score_threshold with the real sync engine over HTTP to the
webhook sandbox (insert mode). dbt then rebuilds the triggers: a person who received a message on a channel
within the window gets no new trigger on that channel while the cap is reached, and gets one while it is not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activations.engine import run_sync
from activations.sandboxes.testing import make_secret, sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from outflow.warehouse import connect
from tests.demo_builds import run_dbt_on
from tests.warehouse_fixtures import Location

from .conftest import demo_as_of, members

SECRET_ENV = "OUTFLOW_TEST_FREQ_CAP_WEBHOOK_SECRET"


def _rebuild_triggers(wh: str, as_of: str, cap: int) -> None:
    run_dbt_on(
        ["run", "--select", "int_trigger__deliveries+", "--vars", json.dumps({"as_of": as_of, "trigger_cap": cap})],
        warehouse=wh,
    )


def test_person_who_received_messages_in_the_window_is_capped(
    demo_warehouse: Location, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = demo_warehouse.ref  # a copy of the demo build, on each target
    as_of = demo_as_of(wh)
    con = connect(wh)
    con.execute("drop schema if exists outflow cascade")  # as on a warehouse that was never synced
    con.close()

    # Uncapped, some people qualify for a cart-abandoned and a lead-score trigger on email at once; with the
    # default cap of 1 and nothing delivered yet, the cart trigger (priority 1) is the one they get.
    _rebuild_triggers(wh, as_of, cap=10)
    con = connect(wh)
    # Before the first sync the engine's tables do not exist: nothing delivered, the build still works.
    assert con.execute("select count(*) from main.int_trigger__deliveries").fetchone()[0] == 0
    assert con.execute("select count(*) from main.trigger_history").fetchone()[0] > 0
    both = {
        r[0]
        for r in con.execute(
            "select c.person_id from main.trg_cart_abandoned c join main.trg_lead_score_threshold l using (person_id)"
        ).fetchall()
    }
    con.close()
    assert both, "the demo data has people with a cart and a lead-score trigger on email"
    _rebuild_triggers(wh, as_of, cap=1)
    con = connect(wh)
    carts_before = members(con, "trg_cart_abandoned")
    assert both <= carts_before
    assert not (both & members(con, "trg_lead_score_threshold"))

    # Rebuilt with a cap of 2 the lead-score rows come back; deliver them (real engine, real HTTP).
    con.close()
    _rebuild_triggers(wh, as_of, cap=2)
    secret = make_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with WebhookSandbox(secret) as sandbox:
        cfg = write_sync(
            tmp_path / "syncs",
            sync_dict(
                sandbox.url,
                name="lead_score_freq_cap",
                source="trg_lead_score_threshold",
                mode="insert",
                secret_env=SECRET_ENV,
                primary_key="idempotency_key",
                fields={"person_id": "personId", "email": "email", "trigger_name": "event"},
            ),
        )
        con = connect(wh)
        res = run_sync(cfg, con=con)
        con.close()
        assert res.status == "success" and res.added > 0
        assert len(sandbox.messages("events")) == res.added, "the destination received every trigger row"
    con = connect(wh)
    delivered_people = members(con, "trg_lead_score_threshold")
    con.close()
    assert both <= delivered_people

    # Cap 1: each of them already received one email in the window, so no new email trigger (the cart).
    _rebuild_triggers(wh, as_of, cap=1)
    con = connect(wh)
    try:
        deliveries = con.execute(
            "select person_id, channel, count(*) from main.int_trigger__deliveries group by 1, 2"
        ).fetchall()
        assert {p for p, _, _ in deliveries} == delivered_people
        assert all(ch == "email" and n == 1 for _, ch, n in deliveries)
        carts_after = members(con, "trg_cart_abandoned")
        assert not (both & carts_after), "someone who received the cap's worth of emails got another trigger"
        # People with nothing delivered are not affected.
        assert carts_after == carts_before - delivered_people
        # What was delivered stays in its model (an insert-only sync never re-sends a key).
        assert members(con, "trg_lead_score_threshold") == delivered_people
    finally:
        con.close()

    # Cap 2: one delivered + one pending fits, so the cart trigger is back.
    _rebuild_triggers(wh, as_of, cap=2)
    con = connect(wh)
    try:
        assert both <= members(con, "trg_cart_abandoned")
    finally:
        con.close()
