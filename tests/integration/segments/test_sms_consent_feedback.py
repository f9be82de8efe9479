"""SMS on the real built warehouse: the SMS trigger reaches only people with SMS consent, and a recipient who
replied STOP is refused by Twilio (21610) and then recorded as an SMS opt-out in the consent ledger.

A copy of the built warehouse syncs trg_cart_reminder_sms with the demo's sync (activations/syncs/
cart_reminder_twilio.yml) over HTTP to the Twilio sandbox; one recipient has replied STOP. dbt then rebuilds the
consent models: that person's SMS consent is revoked (decided by the opt-out), and they drop out of the trigger.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from activations.config import load_syncs
from activations.engine import run_sync
from activations.sandboxes.twilio import TwilioSandbox
from outflow.warehouse import connect
from tests.demo_builds import run_dbt_on
from tests.warehouse_fixtures import Location

from .conftest import demo_as_of, members


def test_sms_consent_and_stop_fed_back_into_the_ledger(
    demo_warehouse: Location, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = demo_warehouse.ref  # a copy of the demo build, on each target
    as_of = demo_as_of(wh)
    con = connect(wh)
    rows = con.execute(
        "select t.person_id, t.phone, k.is_granted from main.trg_cart_reminder_sms t left join main.dim_consent k "
        "on k.person_id = t.person_id and k.channel = 'sms' and k.purpose = 'marketing'"
    ).fetchall()
    assert rows, "the demo data has SMS cart reminders"
    assert all(granted for _, _, granted in rows), "an SMS trigger row without SMS consent"
    stopped_person, stopped_phone = rows[0][0], rows[0][1]

    cfg = next(c for c in load_syncs() if c.name == "cart_reminder_twilio")
    with TwilioSandbox(token="twilio-token") as sb:
        monkeypatch.setenv(cfg.destination.secret_env, f"{sb.account_sid}:twilio-token")
        base = urlunsplit(urlsplit(cfg.destination.base_url)._replace(netloc=urlsplit(sb.url).netloc))
        # quiet hours off: this test is about STOP replies, and must not depend on the hour it runs at
        options = {**cfg.destination.options, "quiet_start_hour": 0, "quiet_end_hour": 0}
        dest = cfg.destination.model_copy(update={"base_url": base, "options": options})
        local = cfg.model_copy(update={"destination": dest})
        sb.receive(stopped_phone, "STOP")
        res = run_sync(local, con=con)
        assert res.rejected == 1 and res.acked == len(rows) - 1
        assert stopped_phone not in {m["to"] for m in sb.messages}
    (err,) = con.execute("select last_error from outflow_sync.sync_rejected_rows").fetchone()
    assert err.startswith(f"21610 {stopped_phone}:")
    con.close()

    run_dbt_on(["run", "--select", "int_consent__sms_opt_outs+", "--vars", json.dumps({"as_of": as_of})], warehouse=wh)
    con = connect(wh)
    try:
        decided = con.execute(
            "select purpose, status, decided_by from main.dim_consent where person_id = ? and channel = 'sms' "
            "order by purpose",
            [stopped_person],
        ).fetchall()
        assert decided == [("marketing", "revoked", "sms_stop"), ("transactional", "revoked", "sms_stop")]
        assert stopped_person not in members(con, "trg_cart_reminder_sms")
    finally:
        con.close()
