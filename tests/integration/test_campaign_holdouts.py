"""Control arms of triggers and journeys, on a copy of the built demo warehouse: with a holdout share set, a held-out
person's trigger row never reaches the trigger model nor, through a real sync, the destination, and a held-out
person's journey sends are dropped at the gate; both arms are kept in the exposure histories, and two weeks later
fct_campaign_conversions and `outflow report lift` measure the trigger and the journey as campaigns."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from activations.config import load_sync
from activations.engine import run_sync
from activations.journeys import load_journeys
from activations.journeys.simulate import catch_up
from activations.sandboxes.testing import make_secret
from activations.sandboxes.webhook import WebhookSandbox
from outflow.build import run_dbt
from outflow.cli import app
from outflow.warehouse import connect
from tests.integration.segments.conftest import copy_warehouse

ROOT = Path(__file__).resolve().parents[2]
SHARES = {"trigger_holdout_pct": {"cart_abandoned": 50, "default": 30}, "journey_holdout_pct": {"winback": 50}}
SELECT = ["int_triggers__arms+", "trigger_exposure_history+", "journey_exposure_history+", "int_journey__sends_gated+"]


def _build(path: Path, as_of: str, select: list[str]) -> None:
    run_dbt(
        ["build", "--select", *select, "--vars", json.dumps({"as_of": as_of, **SHARES})], warehouse=path, as_of=None
    )


@pytest.fixture(scope="module")
def held(built_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("holdouts")
    path = tmp / "outflow.duckdb"
    as_of = copy_warehouse(built_warehouse, path)
    moment = dt.datetime.fromisoformat(as_of) + dt.timedelta(days=1)
    with connect(path) as con:  # the journeys over the data's last three weeks, as the demo plays them
        catch_up(con, [j for j in load_journeys() if j.name == "winback"], moment - dt.timedelta(days=21), moment)
    _build(path, as_of, SELECT)
    with connect(path, read_only=True) as con:
        out = {
            "path": path,
            "as_of": as_of,
            "triggers": con.fetch_polars("select * from main.trigger_exposure_history"),
            "sent_cart": con.fetch_polars("select person_id, idempotency_key from main.trg_cart_abandoned"),
            "sent_any": con.fetch_polars(
                "select trigger_name, person_id from main.trg_cart_abandoned union all "
                "select trigger_name, person_id from main.trg_reengagement union all "
                "select trigger_name, person_id from main.trg_lead_score_threshold"
            ),
            "transactional": con.fetch_polars("select person_id from main.trg_trial_ending"),
            "journeys": con.fetch_polars("select * from main.journey_exposure_history"),
            "journey_sends": con.fetch_polars(
                "select person_id, purpose from outflow_journeys.journey_sends where journey = 'winback'"
            ),
            "journey_sent": con.fetch_polars(
                "select person_id from main.trg_journey_messages where journey_id = 'winback'"
            ),
        }
    return out


@pytest.mark.slow  # dbt builds on a copy of the demo warehouse
def test_held_out_people_are_never_sent(held: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    triggers = held["triggers"]
    cart = triggers.filter(pl.col("trigger_name") == "cart_abandoned")
    arms = dict(cart.group_by("arm").len().iter_rows())
    assert arms.get("holdout", 0) > 5 and arms.get("treated", 0) > 5, arms
    assert 0.3 < arms["holdout"] / cart.height < 0.7  # about the 50% declared
    assert set(triggers["holdout_pct"].to_list()) <= {50.0, 30.0}
    # a held-out person's trigger row never reaches any trigger model; transactional triggers hold nobody out
    holdout = triggers.filter(pl.col("arm") == "holdout").select("trigger_name", "person_id")
    assert holdout.join(held["sent_any"], on=["trigger_name", "person_id"]).height == 0
    assert "trial_ending" not in set(triggers["trigger_name"].to_list())
    treated_cart = set(cart.filter(pl.col("arm") == "treated")["person_id"].to_list())
    assert set(held["sent_cart"]["person_id"].to_list()) <= treated_cart

    # through the sync engine to a destination: exactly the trigger model's rows arrive, none held out
    secret = make_secret()
    monkeypatch.setenv("OUTFLOW_TEST_WEBHOOK_SECRET", secret)
    with WebhookSandbox(secret) as sandbox:
        text = (ROOT / "activations" / "syncs" / "cart_abandoned_webhook.yml").read_text()
        text = text.replace("http://127.0.0.1:8790", sandbox.url).replace(
            "OUTFLOW_WEBHOOK_SECRET", "OUTFLOW_TEST_WEBHOOK_SECRET"
        )
        cfg_path = held["path"].parent / "cart.yml"
        cfg_path.write_text(text)
        result = run_sync(load_sync(cfg_path), warehouse=held["path"])
        delivered = {m["key"] for m in sandbox.messages("events")}
    assert result.acked == len(delivered) == held["sent_cart"].height > 0
    held_keys = set(cart.filter(pl.col("arm") == "holdout")["idempotency_key"].to_list())
    assert delivered and not (delivered & held_keys)

    # journeys: held-out people walk the journey, but the gate drops their (marketing) sends
    journeys = held["journeys"]
    jarms = dict(journeys.group_by("arm").len().iter_rows())
    assert jarms.get("holdout", 0) > 5 and jarms.get("treated", 0) > 5, jarms
    jheld = set(journeys.filter(pl.col("arm") == "holdout")["person_id"].to_list())
    emitted = held["journey_sends"].filter(pl.col("purpose") != "transactional")
    assert jheld & set(emitted["person_id"].to_list())  # the evaluator did emit sends for them...
    assert not (jheld & set(held["journey_sent"]["person_id"].to_list()))  # ...and none reached the send model
    assert held["journey_sent"].height > 0


@pytest.mark.slow
def test_lift_is_computed_for_the_trigger_and_the_journey(held: dict) -> None:
    path, later = held["path"], (dt.date.fromisoformat(held["as_of"]) + dt.timedelta(days=15)).isoformat()
    _build(path, later, ["trigger_exposure_history", "journey_exposure_history", "fct_campaign_conversions"])
    out = path.parent / "lift.html"
    env = {"OUTFLOW_WAREHOUSE": str(path), "OUTFLOW_AS_OF": ""}
    report = CliRunner().invoke(app, ["report", "lift", "--out", str(out)], env=env)
    assert report.exit_code == 0, report.output
    with connect(path, read_only=True) as con:
        lift = con.fetch_polars("select * from main.fct_campaign_lift")
        conv = con.fetch_polars(
            "select campaign_type, campaign, arm, count(*) as n from main.fct_campaign_conversions group by 1, 2, 3"
        )
    by = {(r["campaign_type"], r["campaign"]): r for r in lift.iter_rows(named=True)}
    for key in [("trigger", "cart_abandoned"), ("journey", "winback")]:
        assert key in by, (key, sorted(by))
        row = by[key]
        n = {r["arm"]: r["n"] for r in conv.filter(
            (pl.col("campaign_type") == key[0]) & (pl.col("campaign") == key[1])).iter_rows(named=True)}  # fmt: skip
        assert row["treated"] == n["treated"] > 0 and row["holdout"] == n["holdout"] > 0
        assert row["abs_lift_low"] <= row["abs_lift"] <= row["abs_lift_high"] and row["note"]
    page = out.read_text()
    assert 'data-campaign="cart_abandoned"' in page and 'data-campaign="winback"' in page
