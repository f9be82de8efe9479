"""The dbt project as Dagster assets: grouped by dbt folder, owners from dbt meta, tests as checks."""

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.resources import WAREHOUSE_POOL, WarehouseResource, retry_on_lock
from outflow import settings
from outflow.asof import resolve_as_of
from outflow.build import SKIP_UNIT_TESTS, dbt_env, dbt_vars, run_dbt

# the dbt installed beside this interpreter, so the UI works without activating the venv
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
DBT_PROJECT = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
    target_path=settings.dbt_target_dir().relative_to(settings.DBT_PROJECT_DIR),  # DBT_TARGET_PATH, else target
)


class OutflowDbtTranslator(DagsterDbtTranslator):
    """Group = the model's dbt folder (staging, intermediate, marts, activation…); owners = meta.owner."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            fqn = dbt_resource_props.get("fqn", [])
            kind = dbt_resource_props["resource_type"]
            if kind == "model":
                return fqn[1] if len(fqn) > 2 else None
            return f"{kind}s"
        return super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        owner = (dbt_resource_props.get("meta") or {}).get("owner") or (
            dbt_resource_props.get("config", {}).get("meta") or {}
        ).get("owner")
        if not owner:
            return None
        return [owner if "@" in owner or owner.startswith("team:") else f"team:{owner}"]


def manifest_is_stale(manifest: Path, project_dir: Path) -> bool:
    """Whether the parsed manifest is missing or older than the project: a file of the models, macros, seeds,
    snapshots or tests, or ``dbt_project.yml``, written after it, or a file added, removed or renamed since (the
    folder that held it then has a newer time: a model deleted changes no file that is left)."""
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    folders = [project_dir / d for d in ("models", "macros", "seeds", "snapshots", "tests")]
    paths = [project_dir / "dbt_project.yml", *folders, *(p for d in folders for p in d.rglob("*"))]
    return any(p.stat().st_mtime > built for p in paths if p.exists())


def ensure_manifest() -> None:
    """Parse the project when the manifest is stale (`manifest_is_stale`; missing on a fresh clone), so the asset
    graph always matches the models on disk."""
    if manifest_is_stale(DBT_PROJECT.manifest_path, settings.DBT_PROJECT_DIR):
        run_dbt(["parse"])


class DbtBuildConfig(dg.Config):
    """Run config of a dbt op (outflow_dbt_models, and outflow_dbt_models_2... where a job splits the dbt assets
    around the steps): `unit_tests: true` also runs dbt's unit tests, which it leaves out by default, as `outflow
    build` does (they test the SQL on fixtures, which CI does)."""

    unit_tests: bool = False


def build_defs() -> dg.Definitions:
    ensure_manifest()

    @dbt_assets(manifest=DBT_PROJECT.manifest_path, dagster_dbt_translator=OutflowDbtTranslator(), pool=WAREHOUSE_POOL)
    def outflow_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
    ):
        # the warehouse the settings name (OUTFLOW_TARGET), for dbt as for every other asset
        dbt_env(warehouse.file())
        with warehouse.connect() as con:
            as_of = resolve_as_of(None, con)
        context.log.info(f"dbt build {as_of.describe()}")
        with retry_on_lock():  # dbt could not open the DuckDB file another process holds: the step is retried
            yield from dbt.cli(
                ["build", "--target", settings.target(), *dbt_vars(as_of.dbt_var)]
                + ([] if config.unit_tests else SKIP_UNIT_TESTS),
                context=context,
            ).stream()

    return dg.Definitions(
        assets=[outflow_dbt_models],
        resources={"dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE)},
    )
