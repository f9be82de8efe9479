"""The journey assets in Dagster: one materialized in process evaluates the journey, records per-step counts as
metadata, and its check catches a person stuck past the longest wait plus one evaluation."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from activations.journeys.engine import SCHEMA
from orchestration.defs.journeys import build_journey_asset
from orchestration.resources import WarehouseResource
from tests.integration.journeys.conftest import DAY0, People, journey
from tests.warehouse_fixtures import Location

WINBACK = """
name: winback_test
description: Lapsed customers get a note, then an offer a week later.
owner: lifecycle@example.com
entry: {segment: lapsed_customers}
goals: [{event: order_completed}]
steps:
  - id: miss_you
    send: {sync: journey_messages_braze, message: miss_you}
  - id: wait_7d
    delay: 7 days
  - id: offer
    send: {sync: journey_messages_braze, message: offer}
"""


def _run(asset, location: Location, at):
    config = {"ops": {asset.op.name: {"config": {"as_of": at.isoformat()}}}}
    return dg.materialize([asset], resources={"warehouse": WarehouseResource(path=location.ref)}, run_config=config)


def test_a_journey_asset_materializes_with_step_counts_and_its_stuck_check(people: People, tmp_path):
    location = people.location
    for pid in ("a", "b", "c"):
        people.person(pid)
        people.enters_segment(pid, "lapsed_customers", 0.5)
    people.event("c", "order_completed", 3)
    people.wh.close()
    asset = build_journey_asset(journey(tmp_path, WINBACK))

    result = _run(asset, location, DAY0 + timedelta(days=1))
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["admitted"].value == 3 and meta["sent"].value == 3
    assert meta["step/wait_7d/now"].value == 3 and meta["step/miss_you/entered"].value == 3
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "no_one_stuck" and check.passed

    result = _run(asset, location, DAY0 + timedelta(days=9))
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["left"].value == 3 and meta["sent"].value == 2  # c bought on day 3: goal, no offer
    assert result.get_asset_check_evaluations()[0].passed

    # someone left on a step for longer than the longest wait (7 days) plus one evaluation (an hour) is stuck
    with location.connect() as wh:
        wh.execute(
            f"insert into {SCHEMA}.journey_state (journey, person_id, entry_seq, step, status, entered_at, "
            "step_entered_at, due_at, path) values ('winback_test', 'ghost', 1, 'wait_7d', 'active', ?, ?, ?, "
            "'miss_you>wait_7d')",
            [DAY0, DAY0, DAY0 + timedelta(days=40)],
        )
    result = _run(asset, location, DAY0 + timedelta(days=10))
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.metadata["stuck"].value == 1
