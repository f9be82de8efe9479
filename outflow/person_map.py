"""The identity step: identifiers grouped into persons between dbt models, on every engine.

dbt builds the identifier graph in SQL (int_identity__nodes, int_identity__edges); this step pulls it as Arrow
through the warehouse interface, adds it to the edges every earlier run saw, resolves it with
`outflow.identity_graph.resolve_graph` (conflict-aware links, overrides, stable ids) and writes back, in one
transaction, in schema outflow_identity:

- person_map: identifier key -> person id (int_identity__identifiers reads it); an identifier that left the
  graph keeps its last row;
- edges_seen: every edge ever seen, with its origin, first record and first/last seen, so a link that leaves the
  data (a CRM contact that changed email) keeps joining its identifiers; the fuzzy stage's edges are forgotten
  when the stage is switched off (its table outflow_identity.fuzzy_links is then absent);
- person_ids: every person id ever issued (new ids are unique against it);
- identity_changes: every merge and split, with its reason.

Nothing here imports Dagster.
"""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from outflow import normalize, settings
from outflow.errors import OutflowError
from outflow.identity_graph import EDGE_COLUMNS, REGISTRY_SCHEMA, STAGE_ORIGINS, GraphConfig, Override, resolve_graph

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "outflow_identity"
TABLE = "person_map"
PERSON_MAP = f"{SCHEMA}.{TABLE}"
EDGES_SEEN = f"{SCHEMA}.edges_seen"
PERSON_IDS = f"{SCHEMA}.person_ids"
CHANGES = f"{SCHEMA}.identity_changes"
# where the guards are declared: the source's config.meta (dbt_project/models/intermediate/_intermediate.yml)
SOURCE_ID = f"source.outflow.{SCHEMA}.{TABLE}"
SOURCE_YML = "dbt_project/models/intermediate/_intermediate.yml"
OVERRIDES_SEED = "identity_overrides.csv"
OVERRIDE_ACTIONS = ("merge", "never_merge")
IDENTIFIER_TYPES = ("email", "phone", "crm_id", "user_id", "cookie", "device")


def identity_config(manifest_path: Path | None = None) -> GraphConfig:
    """The guards declared on the source outflow_identity.person_map, from dbt's parsed manifest."""
    path = manifest_path or settings.dbt_target_dir() / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise OutflowError(f"{path} is missing: run `outflow build` so that dbt parses the project") from None
    node = manifest.get("sources", {}).get(SOURCE_ID) or {}
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    defaults = GraphConfig()
    try:
        return GraphConfig(
            max_links_per_type={str(k): int(v) for k, v in dict(meta["max_links_per_type"]).items()},
            max_cluster_size=int(meta["max_cluster_size"]),
            max_weak_links=int(meta.get("max_weak_links", defaults.max_weak_links)),
            max_persons=int(meta.get("max_persons", defaults.max_persons)),
            strong_types=tuple(str(t) for t in meta.get("strong_types", defaults.strong_types)),
            conflict_types=tuple(str(t) for t in meta.get("conflict_types", defaults.conflict_types)),
            record_key_types=tuple(str(t) for t in meta.get("record_key_types", defaults.record_key_types)),
        )
    except (KeyError, TypeError, ValueError):
        raise OutflowError(
            f"{SOURCE_YML}: source {SCHEMA}.{TABLE} needs config.meta max_links_per_type (a mapping of "
            "identifier type to an integer cap) and max_cluster_size (an integer); max_weak_links and "
            "max_persons are integers, strong_types, conflict_types and record_key_types lists of types"
        ) from None


def _override_key(value: str) -> str | None:
    """An identifier key as int_identity__identifiers shows it (emails in their matching form), or None."""
    kind, sep, raw = (value or "").strip().partition(":")
    if not sep or kind not in IDENTIFIER_TYPES or not raw.strip():
        return None
    if kind == "email":
        canonical = normalize.email(raw).canonical
        return f"email:{canonical}" if canonical else None
    return f"{kind}:{raw.strip()}"


def load_overrides(path: Path | None = None) -> list[Override]:
    """The rows of seed identity_overrides, checked; a malformed row is one error naming file, row and column."""
    path = path or settings.DBT_PROJECT_DIR / "seeds" / OVERRIDES_SEED
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("action", "identifier_a", "identifier_b") if c not in (reader.fieldnames or [])]
        if missing:
            raise OutflowError(f"{path}: row 1 (the header), column {missing[0]}: missing; the header is "
                               "action,identifier_a,identifier_b,reason")  # fmt: skip
        overrides = []
        for row in reader:
            where = f"{path}: row {reader.line_num}"
            action = (row.get("action") or "").strip()
            if action not in OVERRIDE_ACTIONS:
                raise OutflowError(f"{where}, column action: '{action}' is not merge or never_merge")
            keys = []
            for column in ("identifier_a", "identifier_b"):
                key = _override_key(row.get(column) or "")
                if key is None:
                    raise OutflowError(
                        f"{where}, column {column}: '{row.get(column) or ''}' is not an identifier key; write "
                        f"type:value with a type of {', '.join(IDENTIFIER_TYPES)} (e.g. email:ann@example.com)"
                    )
                keys.append(key)
            if keys[0] == keys[1]:
                raise OutflowError(f"{where}, column identifier_b: the same identifier as identifier_a")
            overrides.append(Override(action, keys[0], keys[1], (row.get("reason") or "").strip()))
    return overrides


def _remembered_edges(wh: Warehouse) -> pl.DataFrame:
    """This build's edges added to every edge seen before (a pair keeps its first record and first seen, per
    origin); the remembered edges of a stage switched off are dropped."""
    current = wh.fetch_polars(f"select {', '.join(EDGE_COLUMNS)} from main.int_identity__edges")
    if not wh.table_exists(SCHEMA, "edges_seen"):
        return current
    if "origin" not in wh.columns(SCHEMA, "edges_seen"):  # edges remembered before origins were kept
        wh.execute(f"alter table {EDGES_SEEN} add column origin varchar")
        wh.execute(f"update {EDGES_SEEN} set origin = 'record'")
    seen = wh.fetch_polars(f"select {', '.join(EDGE_COLUMNS)} from {EDGES_SEEN}")
    off = [origin for origin, table in STAGE_ORIGINS.items() if not wh.table_exists(SCHEMA, table)]
    if off:
        seen = seen.filter(~pl.col("origin").is_in(off).fill_null(False))
    return (
        pl.concat([seen, current], how="vertical_relaxed")
        .sort(["a", "b", "origin", "first_seen_at", "source_record"], nulls_last=True)
        .group_by("a", "b", "origin", maintain_order=True)
        .agg(
            pl.col("records").max(),
            pl.col("first_seen_at").min(),
            pl.col("last_seen_at").max(),
            pl.col("source_record").first(),
        )
    )


def resolve_person_map(
    wh: Warehouse,
    config: GraphConfig | None = None,
    overrides: list[Override] | None = None,
    run_at: datetime | None = None,
) -> int:
    """Resolve the graph dbt built and replace the person map with the answer; return the identifiers resolved."""
    overrides = load_overrides() if overrides is None else overrides
    if wh.target == "spark":  # the graph stays in the cluster: grouped in Spark SQL, resolved on the executors
        from outflow.label_propagation import resolve_in_warehouse

        return resolve_in_warehouse(wh, config or identity_config(), overrides, run_at)
    nodes = wh.fetch_polars(
        "select identifier_key as key, identifier_type as type from main.int_identity__nodes where block_reason is null"
    )
    edges = _remembered_edges(wh)
    previous = registry = None
    if wh.table_exists(SCHEMA, TABLE):
        previous = wh.fetch_polars(f"select * from {PERSON_MAP}")
        if "shared_reason" not in previous.columns:  # a map written before shared reasons were kept
            wh.execute(f"alter table {PERSON_MAP} add column shared_reason varchar")
            previous = previous.with_columns(shared_reason=pl.lit(None, dtype=pl.String))
    if wh.table_exists(SCHEMA, "person_ids"):
        registry = wh.fetch_polars(f"select * from {PERSON_IDS}")
    result = resolve_graph(
        nodes,
        edges,
        previous=None if previous is None else previous.select(pl.col("identifier_key").alias("key"), "person_id"),
        registry=registry,
        overrides=overrides,
        config=config or identity_config(),
        run_at=run_at or datetime.now(UTC),
    )
    resolved = result.persons.select(
        pl.col("key").alias("identifier_key"), "person_id", "is_shared", "cluster_size", "shared_reason"
    )
    mapped = resolved
    if previous is not None:
        kept = previous.select(resolved.columns).join(resolved, on="identifier_key", how="anti")
        mapped = pl.concat([resolved, kept], how="vertical_relaxed")
    issued = result.registry.select(*REGISTRY_SCHEMA)
    if registry is not None:
        issued = issued.join(registry.select("person_id"), on="person_id", how="anti")
    wh.create_schema(SCHEMA)
    with wh.transaction():
        # emptied rather than dropped, so that nothing built on the tables (a user's view) stands in the way
        for table, exists in ((PERSON_MAP, previous is not None), (EDGES_SEEN, wh.table_exists(SCHEMA, "edges_seen"))):
            if exists:
                wh.execute(f"delete from {table}")
        wh.write_arrow(PERSON_MAP, mapped.to_arrow(), mode="append")
        wh.write_arrow(EDGES_SEEN, edges.select(EDGE_COLUMNS).to_arrow(), mode="append")
        wh.write_arrow(PERSON_IDS, issued.to_arrow(), mode="append")
        wh.write_arrow(CHANGES, result.changes.to_arrow(), mode="append")
    log.info(
        "identity: %d identifiers resolved into %d persons; %d merges and splits",
        resolved.height,
        resolved["person_id"].n_unique(),
        result.changes.height,
    )
    return resolved.height
