"""Identifier -> person_id, with ids kept stable from run to run.

Incremental: the previous map (this model's own table) seeds the id assignment, so a person keeps the
same id when new identifiers join them. Guards (caps per identifier type, cluster size) are set in
_intermediate.yml and applied by `outflow.identity.resolve`.
"""

import polars as pl

from outflow.identity import IdentityConfig, resolve


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="identifier_key", incremental_strategy="delete+insert")
    config = IdentityConfig(
        max_links_per_type=dict(dbt.config.get("max_links_per_type")),
        max_cluster_size=int(dbt.config.get("max_cluster_size")),
    )
    nodes = (
        dbt.ref("int_identity__nodes")
        .filter("block_reason is null")
        .project("identifier_key as key, identifier_type as type")
        .pl()
    )
    edges = dbt.ref("int_identity__edges").pl()
    previous = None
    if dbt.is_incremental:
        previous = session.sql(f"select identifier_key as key, person_id from {dbt.this}").pl()
    resolved = resolve(nodes, edges, previous=previous, config=config)
    return resolved.select(pl.col("key").alias("identifier_key"), "person_id", "is_shared", "cluster_size").to_arrow()
