"""Dagster wiring for journeys: one asset per journey YAML, evaluated on the journey's own schedule.

Thin on purpose: each asset calls ``activations.journeys.engine.evaluate`` (the same function as
``outflow journey evaluate``) and records per-step counts as metadata; its check fails when someone has been on a
step longer than the journey's longest wait plus one evaluation. The asset ``outflow_journeys/journey_sends`` is
the dbt source the journey send models read, so the journey syncs run after the journeys.
"""

from datetime import UTC, datetime

import dagster as dg

from activations.journeys import Journey, load_journeys
from activations.journeys.engine import evaluate, stuck
from activations.journeys.simulate import step_counts
from orchestration.resources import WAREHOUSE_POOL, WAREHOUSE_RUN_TAGS, WarehouseResource

GROUP = "journeys"
SENDS_KEY = dg.AssetKey(["outflow_journeys", "journey_sends"])
#: The dbt models a journey reads: events, segment membership, profile fields and scores.
UPSTREAM = ("fct_events", "segment_membership_history", "dim_profiles", "dim_profile_traits", "fct_lead_scores")


class EvaluateConfig(dg.Config):
    as_of: str = ""  # evaluate as of this UTC time (ISO); empty: now


def journey_key(j: Journey) -> dg.AssetKey:
    return dg.AssetKey(["journeys", j.name])


def _now(config: EvaluateConfig) -> datetime:
    if config.as_of:
        return datetime.fromisoformat(config.as_of).replace(tzinfo=None)
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def build_journey_asset(j: Journey) -> dg.AssetsDefinition:
    @dg.asset(
        key=journey_key(j),
        deps=[dg.AssetKey(k) for k in UPSTREAM],
        group_name=GROUP,
        kinds={"python"},
        description=" ".join(j.spec.description.split()),
        owners=[f"team:{j.spec.owner.split('@')[0]}"] if "@" in j.spec.owner else None,
        pool=WAREHOUSE_POOL,
        check_specs=[dg.AssetCheckSpec("no_one_stuck", asset=journey_key(j))],
    )
    def _journey(context: dg.AssetExecutionContext, config: EvaluateConfig, warehouse: WarehouseResource):
        now = _now(config)
        with warehouse.connect() as wh:
            ev = evaluate(wh, j, now)
            counts = step_counts(wh, j)
            n, sample = stuck(wh, j, now)
        context.log.info(f"journey {j.name} at {now}: {ev.status}; admitted {ev.admitted}, moved {ev.moved}")
        metadata: dict[str, dg.MetadataValue] = {
            "status": dg.MetadataValue.text(ev.status),
            "admitted": dg.MetadataValue.int(ev.admitted),
            "moved": dg.MetadataValue.int(ev.moved),
            "left": dg.MetadataValue.int(ev.exited),
            "sent": dg.MetadataValue.int(ev.sent),
        }
        for c in counts:  # per step: people on it now, and everyone who ever entered it
            metadata[f"step/{c.step}/now"] = dg.MetadataValue.int(c.active)
            metadata[f"step/{c.step}/entered"] = dg.MetadataValue.int(c.entered)
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(
            check_name="no_one_stuck",
            passed=n == 0 or ev.status == "paused",
            metadata={
                "stuck": dg.MetadataValue.int(n),
                "sample": dg.MetadataValue.text(", ".join(sample)),
                "longest_wait_hours": dg.MetadataValue.int(j.longest_wait.amount),
            },
        )

    return _journey


def build_defs() -> dg.Definitions:
    journeys = load_journeys()
    assets = [build_journey_asset(j) for j in journeys]

    @dg.asset(
        key=SENDS_KEY,
        deps=[journey_key(j) for j in journeys],
        group_name=GROUP,
        pool=WAREHOUSE_POOL,
        description="Every journey send (outflow_journeys.journey_sends), keyed by its idempotency key; the journey "
        "send models (trg_journey_messages, sync_journey_sales_handoff) read it.",
    )
    def journey_sends(warehouse: WarehouseResource) -> dg.MaterializeResult:
        from activations.journeys.engine import SCHEMA, ensure_tables

        with warehouse.connect() as wh:
            ensure_tables(wh)
            rows = wh.execute(f"select journey, count(*) from {SCHEMA}.journey_sends group by 1").fetchall()
        return dg.MaterializeResult(metadata={f"sends/{name}": dg.MetadataValue.int(n) for name, n in rows})

    jobs, schedules = [], []
    for j in journeys:
        job = dg.define_asset_job(
            f"journey_{j.name}",
            selection=dg.AssetSelection.assets(journey_key(j), SENDS_KEY),
            tags=WAREHOUSE_RUN_TAGS,
        )
        jobs.append(job)
        schedules.append(
            dg.ScheduleDefinition(name=f"journey_{j.name}_schedule", job=job, cron_schedule=j.spec.schedule)
        )
    return dg.Definitions(assets=[*assets, journey_sends], jobs=jobs, schedules=schedules)
