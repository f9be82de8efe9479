"""Dagster layer for activation syncs: one asset per sync YAML, downstream of its dbt model.

Thin on purpose: the asset calls ``activations.engine.run_sync``, the same function as ``outflow sync run``;
the engine runs the quality gate and the consent/erasure filter itself, so the asset, its per-sync job and
the schedule cannot send past them. Each asset carries two checks, evaluated from the run's own counts:
``rejected_rows`` (a warning when the destination refused rows) and ``invalid_share`` (an error when more
than the sync's ``thresholds.max_invalid_share`` of the model's rows are invalid).
"""

from collections.abc import Sequence

import dagster as dg

from activations.config import SyncConfig, load_syncs
from activations.engine import SyncFailed, SyncResult, run_sync
from orchestration.defs.schedules import schedule
from orchestration.resources import WAREHOUSE_POOL, WAREHOUSE_RUN_TAGS, WarehouseResource, retry_on_lock

GROUP = "activations"


def sync_asset_key(cfg: SyncConfig) -> dg.AssetKey:
    return dg.AssetKey(["activations", cfg.name])


def _metadata(res: SyncResult) -> dict[str, dg.MetadataValue]:
    return {
        "run_id": dg.MetadataValue.text(res.run_id),
        "status": dg.MetadataValue.text(res.status),
        "added": dg.MetadataValue.int(res.added),
        "changed": dg.MetadataValue.int(res.changed),
        "removed": dg.MetadataValue.int(res.removed),
        "rejected": dg.MetadataValue.int(res.rejected),
        "invalid": dg.MetadataValue.int(res.invalid),
        "acked": dg.MetadataValue.int(res.acked),
        "deferred": dg.MetadataValue.int(res.deferred),  # held back for the next run (quiet hours): no failure
        "duration_s": dg.MetadataValue.float(round(res.duration_s, 3)),
        "completion_ratio": dg.MetadataValue.float(round(res.completion_ratio, 4)),
        **({"deferred_reason": dg.MetadataValue.text(res.deferred_reason)} if res.deferred_reason else {}),
    }


REJECTED_CHECK, INVALID_CHECK = "rejected_rows", "invalid_share"


def _checks(cfg: SyncConfig, res: SyncResult) -> list[dg.AssetCheckResult]:
    """The run's rejected rows (warn) and invalid share (fail above the threshold), each naming the command that
    lists the rows."""
    limit = cfg.thresholds.max_invalid_share
    return [
        dg.AssetCheckResult(
            check_name=REJECTED_CHECK,
            passed=res.rejected == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"rejected": res.rejected, "list them": f"outflow sync rejected {cfg.name}"},
        ),
        dg.AssetCheckResult(
            check_name=INVALID_CHECK,
            passed=res.invalid_share <= limit,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "invalid": res.invalid,
                "invalid_share": round(res.invalid_share, 4),
                "max_invalid_share": limit,
                "list them": f"outflow sync rejected {cfg.name} --invalid",
            },
        ),
    ]


def build_sync_asset(cfg: SyncConfig) -> dg.AssetsDefinition:
    """The asset for one sync, with its checks; its upstream is the dbt model's default asset key ``[source]``."""
    key = sync_asset_key(cfg)

    @dg.asset(
        key=key,
        deps=[dg.AssetKey([cfg.source])],
        check_specs=[
            dg.AssetCheckSpec(REJECTED_CHECK, asset=key, description="the destination rejected no row (warns)"),
            dg.AssetCheckSpec(
                INVALID_CHECK, asset=key, description="invalid rows stay under thresholds.max_invalid_share"
            ),
        ],
        group_name=GROUP,
        kinds={"python", cfg.destination.type},
        description=f"{cfg.mode.value} main.{cfg.source} → {cfg.destination.type}:{cfg.destination.object}",
        tags={"outflow/sync": cfg.name},
        pool=WAREHOUSE_POOL,
    )
    def _sync(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        try:
            with retry_on_lock():  # the warehouse held by another process: the step is retried
                res = run_sync(cfg, warehouse=warehouse.path or None)  # empty: the settings (DuckDB or PostgreSQL)
        except SyncFailed as exc:
            raise dg.Failure(description=str(exc), metadata=_metadata(exc.result)) from None
        context.log.info(
            f"sync {cfg.name}: {res.status}; added={res.added} changed={res.changed} removed={res.removed} "
            f"rejected={res.rejected} invalid={res.invalid} deferred={res.deferred}"
        )
        return dg.MaterializeResult(metadata=_metadata(res), check_results=_checks(cfg, res))

    return _sync


def build_defs(syncs: Sequence[SyncConfig] | None = None) -> dg.Definitions:
    """Assets (one per sync YAML) and, for syncs with a ``schedule``, a job and a cron schedule each."""
    syncs = list(syncs) if syncs is not None else load_syncs()
    assets = [build_sync_asset(cfg) for cfg in syncs]
    jobs, schedules = [], []
    for cfg in syncs:
        if not cfg.schedule:
            continue
        job = dg.define_asset_job(
            f"activation_sync_{cfg.name}",
            selection=dg.AssetSelection.assets(sync_asset_key(cfg)),
            tags=WAREHOUSE_RUN_TAGS,
        )
        jobs.append(job)
        schedules.append(schedule(f"activation_sync_{cfg.name}_schedule", job, cfg.schedule))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)
