"""All of Outflow's Dagster definitions: each domain's `build_defs()`, merged, plus shared resources."""

from __future__ import annotations

import dagster as dg

from orchestration.defs import (
    activation_syncs,
    alerts,
    clv,
    dbt,
    identity,
    journeys,
    lift,
    ml,
    privacy,
    quality,
    raw,
    segments,
)
from orchestration.resources import WAREHOUSE_RUN_TAGS, WarehouseResource

# Every asset except the model training, which has its own weekly schedule (ml_training_weekly); the
# daily scoring uses the promoted model (and trains the first one on a fresh deployment).
daily = dg.AssetSelection.all() - dg.AssetSelection.assets(ml.MODEL_KEY)
daily_job = dg.define_asset_job("outflow_daily", selection=daily, tags=WAREHOUSE_RUN_TAGS)


def build_definitions() -> dg.Definitions:
    return dg.Definitions.merge(
        raw.build_defs(),
        dbt.build_defs(),
        identity.build_defs(),
        segments.build_defs(),
        journeys.build_defs(),
        privacy.erasure_first(activation_syncs.build_defs()),  # erase before syncing
        privacy.build_defs(),
        quality.build_defs(),
        ml.build_defs(),
        clv.build_defs(),
        lift.build_defs(),
        alerts.build_defs(),
        dg.Definitions(
            jobs=[daily_job],
            schedules=[dg.ScheduleDefinition(name="outflow_daily_schedule", job=daily_job, cron_schedule="0 5 * * *")],
            resources={"warehouse": WarehouseResource()},
            # DuckDB allows one writer: steps of a run execute one after another in one process.
            executor=dg.in_process_executor,
        ),
    )


defs = build_definitions()
