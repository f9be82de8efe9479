"""The identity step: identifiers grouped into persons between dbt models, on every engine.

dbt builds the identifier graph in SQL (int_identity__nodes, int_identity__edges); this step pulls it as Arrow
through the warehouse interface, resolves it with `outflow.identity.resolve` and writes the map back in bulk
(source outflow_identity.person_map), which int_identity__identifiers reads. Nothing here imports Dagster.

Ids stay stable: the previous map seeds the assignment, so a person keeps their id when new identifiers join
them. As with an incremental delete+insert, identifiers that left the graph keep their last row.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from outflow import settings
from outflow.errors import OutflowError
from outflow.identity import IdentityConfig, resolve

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "outflow_identity"
TABLE = "person_map"
PERSON_MAP = f"{SCHEMA}.{TABLE}"
# where the guards are declared: the source's config.meta (dbt_project/models/intermediate/_intermediate.yml)
SOURCE_ID = f"source.outflow.{SCHEMA}.{TABLE}"
SOURCE_YML = "dbt_project/models/intermediate/_intermediate.yml"


def identity_config(manifest_path: Path | None = None) -> IdentityConfig:
    """The over-merge guards declared on the source outflow_identity.person_map, from dbt's parsed manifest."""
    path = manifest_path or settings.DBT_PROJECT_DIR / "target" / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise OutflowError(f"{path} is missing: run `outflow build` so that dbt parses the project") from None
    node = manifest.get("sources", {}).get(SOURCE_ID) or {}
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    try:
        return IdentityConfig(
            max_links_per_type={str(k): int(v) for k, v in dict(meta["max_links_per_type"]).items()},
            max_cluster_size=int(meta["max_cluster_size"]),
        )
    except (KeyError, TypeError, ValueError):
        raise OutflowError(
            f"{SOURCE_YML}: source {SCHEMA}.{TABLE} needs config.meta max_links_per_type (a mapping of "
            "identifier type to an integer cap) and max_cluster_size (an integer)"
        ) from None


def resolve_person_map(wh: Warehouse, config: IdentityConfig | None = None) -> int:
    """Resolve the graph dbt built and replace the person map with the answer; return the identifiers resolved."""
    if wh.target == "spark":  # the graph stays in the cluster: label propagation in Spark SQL
        from outflow.label_propagation import resolve_in_warehouse

        return resolve_in_warehouse(wh, config or identity_config())
    nodes = wh.fetch_polars(
        "select identifier_key as key, identifier_type as type from main.int_identity__nodes where block_reason is null"
    )
    edges = wh.fetch_polars("select a, b from main.int_identity__edges")
    previous = None
    if wh.table_exists(SCHEMA, TABLE):
        previous = wh.fetch_polars(f"select identifier_key, person_id, is_shared, cluster_size from {PERSON_MAP}")
    resolved = resolve(
        nodes,
        edges,
        previous=None if previous is None else previous.select(pl.col("identifier_key").alias("key"), "person_id"),
        config=config or identity_config(),
    ).select(pl.col("key").alias("identifier_key"), "person_id", "is_shared", "cluster_size")
    mapped = resolved
    if previous is not None:
        kept = previous.join(resolved, on="identifier_key", how="anti")
        mapped = pl.concat([resolved, kept], how="vertical_relaxed")
    with wh.transaction():
        # emptied rather than dropped, so that nothing built on the table (a user's view) stands in the way
        if previous is not None:
            wh.execute(f"delete from {PERSON_MAP}")
        wh.write_arrow(PERSON_MAP, mapped.to_arrow(), mode="append")
    log.info("identity: %d identifiers resolved into %d persons", resolved.height, resolved["person_id"].n_unique())
    return resolved.height
