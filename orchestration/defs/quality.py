"""Data quality as Dagster asset checks: the GX suites of ``data_quality`` on raw, profile and
activation assets.

Each check has its severity: blocking checks are ``AssetCheckSpec(blocking=True)`` and fail with
severity ERROR, so every asset downstream of the checked one (above all the syncs) does not materialize
in that run; warn checks fail with severity WARN and block nothing. The check metadata shows the failed
count, a sample of the failed rows and the report page. dbt tests appear as asset checks through
dagster-dbt, and the GX suites leave out every rule dbt already tests.
"""

# no `from __future__ import annotations`: Dagster reads the context annotation at definition time
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import dagster as dg

from data_quality.config import Severity, load_config
from data_quality.runner import catalog, run_checks
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from outflow.contract import TABLES
from outflow.settings import DBT_PROJECT_DIR, dbt_target_dir

log = logging.getLogger(__name__)


def asset_key(asset: str) -> dg.AssetKey:
    """``raw.orders`` -> AssetKey(["raw", "orders"]); ``dim_profiles`` -> AssetKey(["dim_profiles"])."""
    return dg.AssetKey(asset.split(".", 1)) if asset.startswith("raw.") else dg.AssetKey([asset])


def discover_activation_models(project_dir: Path = DBT_PROJECT_DIR) -> list[str]:
    """Every ``sync_*``/``trg_*`` dbt model: SQL files under models/ and nodes of a compiled manifest."""
    models = project_dir / "models"
    names = {p.stem for pat in ("sync_*.sql", "trg_*.sql") for p in models.rglob(pat)} if models.is_dir() else set()
    manifest = dbt_target_dir(project_dir) / "manifest.json"
    if manifest.is_file():
        try:
            nodes = json.loads(manifest.read_text()).get("nodes", {})
            names |= {
                n["name"]
                for n in nodes.values()
                if n.get("resource_type") == "model" and n["name"].startswith(("sync_", "trg_"))
            }
        except (OSError, ValueError, KeyError):
            log.warning("%s could not be read; activation models found from SQL files only", manifest)
    return sorted(names)


def _check_fn_name(asset: str) -> str:
    return "quality_" + asset.replace(".", "_")


def quality_checks_for(asset: str) -> dg.AssetChecksDefinition:
    """One multi-asset check running the asset's whole GX suite; one check result per rule."""
    cfg = load_config()
    key = asset_key(asset)
    specs = catalog(asset, cfg)
    by_name = {s.name: s for s in specs}
    check_specs = [
        dg.AssetCheckSpec(
            name=s.name,
            asset=key,
            description=f"[{s.severity.value}] {s.description}",
            blocking=s.severity == Severity.BLOCKING,
            metadata={"severity": s.severity.value, "suite": "great_expectations"},
        )
        for s in specs
    ]

    @dg.multi_asset_check(
        specs=check_specs,
        name=_check_fn_name(asset),
        can_subset=True,
        compute_kind="great_expectations",
        pool=WAREHOUSE_POOL,
    )
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        with warehouse.connect() as con:
            run = run_checks(con, asset, config=cfg)
        results = {r.name: r for r in run.results}
        for check_key in context.selected_asset_check_keys:
            spec = by_name[check_key.name]
            r = results.get(check_key.name)
            blocking = spec.severity == Severity.BLOCKING
            if r is None:  # the data makes it not applicable (no such column for this channel)
                yield dg.AssetCheckResult(
                    check_name=check_key.name,
                    asset_key=key,
                    passed=True,
                    metadata={"status": "not applicable", "severity": spec.severity.value},
                )
                continue
            md: dict[str, object] = {
                "status": r.status if r.status != "skipped" else f"not applicable: {r.message}",
                "severity": r.severity.value,
                "rule": r.description,
                "quality_run_id": run.run_id,
            }
            if r.failed_count is not None:
                md["failed_count"] = r.failed_count
                md["row_count"] = r.element_count
            if r.observed is not None:
                md["observed"] = dg.MetadataValue.json({"value": r.observed})
            if r.message and r.status != "skipped":
                md["message"] = r.message
            if r.sample:
                md["failed_rows_sample"] = dg.MetadataValue.json(r.sample[:10])
            if run.report_path:
                md["report"] = dg.MetadataValue.path(str(run.report_path))
            failed = r.status in ("failed", "error")
            yield dg.AssetCheckResult(
                check_name=check_key.name,
                asset_key=key,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
                metadata=md,
                description=r.summary() if failed else None,
            )

    return _checks


def build_asset_checks(
    raw_tables: Iterable[str] | None = None,
    profiles: bool = True,
    activation_models: Sequence[str] | None = None,
) -> list[dg.AssetChecksDefinition]:
    raw = list(TABLES) if raw_tables is None else list(raw_tables)
    models = discover_activation_models() if activation_models is None else list(activation_models)
    assets = [f"raw.{t}" for t in raw] + (["dim_profiles"] if profiles else []) + models
    return [quality_checks_for(a) for a in assets]


def build_defs() -> dg.Definitions:
    """Asset checks for every raw table, dim_profiles and every sync_* model of the dbt project."""
    return dg.Definitions(asset_checks=build_asset_checks())
