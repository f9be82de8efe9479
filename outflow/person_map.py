"""The identity step: identifiers grouped into persons between dbt models, on every engine.

dbt builds the identifier graph in SQL (int_identity__nodes, int_identity__edges); this step, in one
transaction, adds its edges to the edges every earlier run saw (in the warehouse, writing only new and changed
rows), numbers the nodes in key order and pulls the graph as Arrow with its ends as node numbers (the warehouse
joins the string keys, Python sorts and groups integers), resolves it with `outflow.identity_graph.resolve_coded`
(conflict-aware links, overrides, stable ids) and writes back the rows that changed, in schema outflow_identity:

- person_map: identifier key -> person id (int_identity__identifiers reads it); an identifier that left the
  graph keeps its last row;
- edges_seen: every edge ever seen, with its origin, first record and first/last seen, so a link that leaves the
  data (a CRM contact that changed email) keeps joining its identifiers; the fuzzy stage's edges are forgotten
  when the stage is switched off (its table outflow_identity.fuzzy_links is then absent);
- person_ids: every person id ever issued (new ids are unique against it);
- identity_changes: every merge and split, with its reason;
- changed_identifiers: the identifiers whose person int_identity__identifiers may show otherwise since
  int_identity__signature_persons last read them (a map row new or changed, or an identifier that entered or left
  the graph), which it reads and then empties, so a daily build re-ranks only the signatures that hold one; a row
  with a null identifier_type stands for every identifier (a map written before the list was kept);
- outside_graph: the keys of the person map that were not in the graph at this run (blocked or gone), so the
  next run lists those that enter or leave it;
- components: each node of this run's graph and the label of its component (of every edge, shared values
  included, and of the forced merges), and step_state: the fingerprint of the config and overrides, and the rows
  the step left; with them a later run resolves only the components that changed (`_touched_keys`) and keeps
  every other row, which is what resolving the whole graph would write (docs/identity-performance.md, "A day
  resolves the components that changed").

Nothing here imports Dagster.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from outflow import normalize, settings
from outflow.errors import OutflowError
from outflow.identity_graph import (
    EDGE_COLUMNS,
    REGISTRY_SCHEMA,
    STAGE_ORIGINS,
    GraphConfig,
    Override,
    coded_edges,
    graph_components,
    resolve_coded,
)

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
MAP_COLUMNS = ["identifier_key", "person_id", "is_shared", "cluster_size", "shared_reason"]
CHANGED = "_outflow_person_map_changed"  # the person map's new and changed rows (a temp table)
CHANGED_IDENTIFIERS = f"{SCHEMA}.changed_identifiers"
OUTSIDE = f"{SCHEMA}.outside_graph"
STATE = f"{SCHEMA}.step_state"  # what the last run was given and left: config and overrides, row counts
RULES = 1  # the version of the resolution's rules: a change makes the next run resolve the whole graph
COMPONENTS = f"{SCHEMA}.components"  # each node of the last run's graph and its component (of every edge)
# temp tables of a run that resolves the components that changed
ENDS = "_outflow_identity_ends"  # keys at an end of a new or changed edge
USABLE, SEEDS, OVERRIDDEN = "_outflow_identity_usable", "_outflow_identity_seeds", "_outflow_identity_overridden"
APPEARED = "_outflow_identity_appeared"  # nodes with no component: new to the graph or back in it
HIT, FRONTIER, ADDED = "_outflow_identity_hit", "_outflow_identity_frontier", "_outflow_identity_added"
KEYS, GONE = "_outflow_identity_keys", "_outflow_identity_gone"  # the nodes resolved again, the nodes gone
QUEUE_SCHEMA = {"identifier_type": pl.String, "identifier_value": pl.String}


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


NODES = "_outflow_identity_nodes"  # this run's node numbers (a temp table)
NEW_EDGES = "_outflow_identity_new_edges"  # this build's new and changed remembered edges (a temp table)
# an edge of this build (e) beside the same edge remembered (s), merged: most records, first and last seen, the
# earliest sighting's record; `is_new` when it was not remembered
_EDGE_MERGE = """
select e.a, e.b, e.origin,
    case when s.records is null or e.records > s.records then e.records else s.records end as records,
    case when s.first_seen_at is null or e.first_seen_at < s.first_seen_at then e.first_seen_at
        else s.first_seen_at end as first_seen_at,
    case when s.last_seen_at is null or e.last_seen_at > s.last_seen_at then e.last_seen_at
        else s.last_seen_at end as last_seen_at,
    case when s.a is null or (s.first_seen_at is null and e.first_seen_at is not null)
        or e.first_seen_at < s.first_seen_at
        or (e.first_seen_at is not distinct from s.first_seen_at
            and ((s.source_record is null and e.source_record is not null) or e.source_record < s.source_record))
        then e.source_record else s.source_record end as source_record,
    s.a is null as is_new,
    s.records as s_records, s.first_seen_at as s_first_seen_at, s.last_seen_at as s_last_seen_at,
    s.source_record as s_source_record
from main.int_identity__edges as e
left join {seen} as s on s.a = e.a and s.b = e.b and coalesce(s.origin, '') = coalesce(e.origin, '')
"""


def _remember_edges(wh: Warehouse) -> bool:
    """Add this build's edges to every edge seen before, in place: a pair keeps its first record and first seen,
    per origin (a missing origin is one of its own); only new and changed rows are written. The remembered edges
    of a stage switched off are dropped. Return whether the edges were merged into those remembered, none
    dropped; the keys at an end of a new or changed edge are then left in the temp table ENDS."""
    columns = ", ".join(EDGE_COLUMNS)
    if not wh.table_exists(SCHEMA, "edges_seen"):
        wh.execute(f"create table {EDGES_SEEN} as select {columns} from main.int_identity__edges")
        return False
    dropped = False
    off = [origin for origin, table in STAGE_ORIGINS.items() if not wh.table_exists(SCHEMA, table)]
    if off:
        origins = ", ".join(f"'{origin}'" for origin in off)
        dropped = wh.fetch_polars(f"select count(*) as n from {EDGES_SEEN} where origin in ({origins})")["n"][0] > 0
        wh.execute(f"delete from {EDGES_SEEN} where origin in ({origins})")
    facts = EDGE_COLUMNS[3:]
    changed = " or ".join(f"m.{c} is distinct from m.s_{c}" for c in facts)
    wh.execute(f"drop table if exists {NEW_EDGES}")
    wh.execute(
        f"create temp table {NEW_EDGES} as select {columns}, is_new from "
        f"({_EDGE_MERGE.format(seen=EDGES_SEEN)}) as m where m.is_new or {changed}"
    )
    wh.execute(
        f"update {EDGES_SEEN} as s set {', '.join(f'{c} = m.{c}' for c in facts)} from {NEW_EDGES} as m "
        "where not m.is_new and m.a = s.a and m.b = s.b and coalesce(s.origin, '') = coalesce(m.origin, '')"
    )
    wh.execute(f"insert into {EDGES_SEEN} ({columns}) select {columns} from {NEW_EDGES} where is_new")
    wh.execute(f"drop table if exists {ENDS}")
    wh.execute(f"create temp table {ENDS} as select a as key from {NEW_EDGES} union select b from {NEW_EDGES}")
    wh.execute(f"drop table {NEW_EDGES}")
    return not dropped


_USABLE = (
    "select distinct identifier_key as key, identifier_type as type from main.int_identity__nodes "
    "where block_reason is null"
)


def _touched_keys(wh: Warehouse, overrides: list[Override]) -> tuple[pl.Series, int]:
    """Leave in the temp table KEYS the usable nodes of every component (of the last run, in
    outflow_identity.components) that a day may resolve otherwise, and the nodes new to the graph: the components
    holding a key at an end of a new or changed edge (ENDS), a node new or back, a node gone, an override's
    identifier, or a neighbour of any of these; then, until none is added, those holding a node whose previous
    person has a node in one already taken. Leave the keys gone from the graph since the last run in GONE and
    return them, with the number of nodes in the graph."""
    for table in (USABLE, SEEDS, APPEARED, HIT, FRONTIER, ADDED, KEYS, GONE):
        wh.execute(f"drop table if exists {table}")
    wh.execute(f"create temp table {USABLE} as {_USABLE}")
    wh.execute(  # the nodes with no component (new or back) and the components with no node (gone), in one join
        f"create temp table {SEEDS} as select n.key as appeared, c.identifier_key as gone from {USABLE} as n "
        f"full join {COMPONENTS} as c on c.identifier_key = n.key where n.key is null or c.identifier_key is null"
    )
    wh.execute(f"create temp table {GONE} as select gone as key from {SEEDS} where gone is not null")
    wh.execute(f"create temp table {APPEARED} as select appeared as key from {SEEDS} where appeared is not null")
    wh.execute(f"drop table {SEEDS}")
    wh.execute(f"create temp table {SEEDS} as select key from {GONE} union all select key from {APPEARED}")
    gone = wh.fetch_polars(f"select key from {GONE}")["key"]
    nodes = int(wh.fetch_polars(f"select count(*) as n from {USABLE}")["n"][0])
    wh.execute(f"insert into {SEEDS} select key from {ENDS}")
    named = sorted({k for o in overrides for k in (o.a, o.b)})
    if named:
        wh.write_arrow(OVERRIDDEN, pl.DataFrame({"key": named}).to_arrow(), mode="replace", temporary=True)
        wh.execute(f"insert into {SEEDS} select key from {OVERRIDDEN}")
        wh.execute(f"drop table {OVERRIDDEN}")
    wh.execute(
        f"create temp table {HIT} as select distinct c.component from {COMPONENTS} as c inner join ("
        f"select key from {SEEDS} union select e.b from {EDGES_SEEN} as e inner join {SEEDS} as s on s.key = e.a "
        f"union select e.a from {EDGES_SEEN} as e inner join {SEEDS} as s on s.key = e.b"
        ") as t on t.key = c.identifier_key"
    )
    wh.execute(f"create temp table {FRONTIER} as select component from {HIT}")
    while True:  # the components holding an old id of a node new to the graph or of a component taken last round
        wh.execute(f"drop table if exists {ADDED}")
        wh.execute(
            f"create temp table {ADDED} as select distinct c2.component from (select c.identifier_key as key "
            f"from {FRONTIER} as f inner join {COMPONENTS} as c on c.component = f.component "
            f"union all select key from {APPEARED}) as k "
            f"inner join {PERSON_MAP} as m on m.identifier_key = k.key "
            f"inner join {PERSON_MAP} as m2 on m2.person_id = m.person_id "
            f"inner join {COMPONENTS} as c2 on c2.identifier_key = m2.identifier_key "
            f"where c2.component not in (select component from {HIT})"
        )
        if not wh.fetch_polars(f"select count(*) as n from {ADDED}")["n"][0]:
            break
        wh.execute(f"insert into {HIT} select component from {ADDED}")
        wh.execute(f"delete from {FRONTIER}")
        wh.execute(f"insert into {FRONTIER} select component from {ADDED}")
    wh.execute(
        f"create temp table {KEYS} as select n.key, n.type from {USABLE} as n inner join (select key from {APPEARED} "
        f"union all select c.identifier_key from {COMPONENTS} as c inner join {HIT} as h on h.component = c.component"
        ") as k on k.key = n.key"
    )
    for table in (USABLE, SEEDS, APPEARED, HIT, FRONTIER, ADDED, ENDS):
        wh.execute(f"drop table {table}")
    return gone, nodes


def _numbered_graph(wh: Warehouse, part: bool) -> tuple[pl.DataFrame, tuple, pl.DataFrame | None]:
    """The usable nodes sorted by key (a node's number is its row), the remembered edges as node numbers, and
    the previous map's rows as node numbers: the warehouse joins the string keys, Python gets integers (and the
    key, as `outside`, of a row outside the graph now). With `part`, the nodes in KEYS only, and the previous
    rows of those nodes only."""
    wh.execute(f"drop table if exists {NODES}")
    # numbered as the sorted subquery comes (a window ordered by key costs a fifth more than the sort at 10M);
    # an engine that did not keep that order is caught below, where the keys are checked to be sorted
    wh.execute(
        f"create temp table {NODES} as select key, type, row_number() over () - 1 as node from "
        f"({f'select key, type from {KEYS}' if part else _USABLE} order by key) as usable"
    )
    index = wh.fetch_polars(f"select key, type from {NODES} order by node")
    edges = wh.fetch_polars(
        f"select x.node as x, y.node as y, e.records, e.last_seen_at from {EDGES_SEEN} as e "
        f"inner join {NODES} as x on x.key = e.a inner join {NODES} as y on y.key = e.b"
    )
    previous = None
    if wh.table_exists(SCHEMA, TABLE):  # an identifier that left the graph has no node number (its id counts)
        previous = wh.fetch_polars(
            f"select n.node, {', '.join(f'm.{c}' for c in MAP_COLUMNS[1:])}, "
            f"case when n.node is null then m.identifier_key end as outside from {PERSON_MAP} as m "
            f"{'inner' if part else 'left'} join {NODES} as n on n.key = m.identifier_key"
        )
    wh.execute(f"drop table {NODES}")
    # the warehouse's collation may order keys otherwise than Python does: renumber by Python's order
    if not index["key"].is_sorted():
        order = index["key"].arg_sort()
        rank = np.empty(index.height, np.int64)
        rank[order.to_numpy()] = np.arange(index.height)
        rank = pl.Series(rank)
        index = index[order]
        edges = edges.with_columns(x=rank.gather(edges["x"]), y=rank.gather(edges["y"]))
        if previous is not None:
            previous = previous.with_columns(node=rank.gather(previous["node"]))
    if previous is not None:
        previous = previous.cast({"node": pl.Int64})
    return index, coded_edges(edges.cast({"x": pl.Int64, "y": pl.Int64})), previous


def _fingerprint(config: GraphConfig, overrides: list[Override]) -> str:
    """What the rules were given besides the graph: the config, the overrides and the rules' own version."""
    given = [RULES, dataclasses.asdict(config), [dataclasses.astuple(o) for o in overrides]]
    return hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()


def _counts(wh: Warehouse) -> tuple[int, int, int]:
    """The rows of the person map, of the remembered edges and of the components."""
    row = wh.fetch_polars(
        f"select (select count(*) from {PERSON_MAP}) as m, (select count(*) from {EDGES_SEEN}) as e, "
        f"(select count(*) from {COMPONENTS}) as c"
    )
    return int(row["m"][0]), int(row["e"][0]), int(row["c"][0])


def _trusted(wh: Warehouse, fingerprint: str) -> bool:
    """Whether the map, the remembered edges, the components, the registry and the keys outside the graph are as
    the last run of this step left them, with the same config and overrides: only then does a run resolve the
    components that changed alone."""
    tables = (TABLE, "edges_seen", "person_ids", "outside_graph", "components", "step_state")
    if not all(wh.table_exists(SCHEMA, t) for t in tables):
        return False
    state = wh.fetch_polars(f"select * from {STATE}")
    if state.height != 1 or state["fingerprint"][0] != fingerprint:
        return False
    if wh.fetch_polars(f"select count(*) as n from {PERSON_IDS}")["n"][0] == 0:
        return False  # a map from before the registry: its ids are registered from the whole map
    return _counts(wh) == tuple(state.select("map_rows", "edges_rows", "component_rows").row(0))


def _write_components(wh: Warehouse, index: pl.DataFrame, labels: np.ndarray, part: bool) -> None:
    """Record each resolved node's component: the whole table, or (`part`: a run on the components that changed,
    KEYS) those nodes' rows replaced, under labels unused so far, and the rows of the nodes gone (GONE) deleted."""
    rows = pl.DataFrame({"identifier_key": index["key"], "component": labels.astype(np.int64)})
    if not part:
        wh.write_arrow(COMPONENTS, rows.to_arrow(), mode="replace")
        return
    start = wh.fetch_polars(f"select coalesce(max(component), -1) + 1 as n from {COMPONENTS}")["n"][0]
    wh.write_arrow(CHANGED, rows.with_columns(pl.col("component") + start).to_arrow(), mode="replace", temporary=True)
    wh.execute(
        f"delete from {COMPONENTS} where identifier_key in (select key from {KEYS}) "
        f"or identifier_key in (select key from {GONE})"
    )
    wh.execute(f"insert into {COMPONENTS} select identifier_key, component from {CHANGED}")
    for table in (CHANGED, KEYS, GONE):
        wh.execute(f"drop table {table}")


def resolve_person_map(
    wh: Warehouse,
    config: GraphConfig | None = None,
    overrides: list[Override] | None = None,
    run_at: datetime | None = None,
    whole: bool = False,
) -> int:
    """Resolve the graph dbt built and update the person map with the answer; return the identifiers in it.
    A run after this step's last one, with the same config and overrides, resolves only the components that
    changed (`_touched_keys`) unless `whole`, and writes the same rows."""
    overrides = load_overrides() if overrides is None else overrides
    if wh.target == "spark":  # the graph stays in the cluster: grouped in Spark SQL, resolved on the executors
        from outflow.label_propagation import resolve_in_warehouse

        return resolve_in_warehouse(wh, config or identity_config(), overrides, run_at)
    config = config or identity_config()
    if wh.table_exists(SCHEMA, "edges_seen") and "origin" not in wh.columns(SCHEMA, "edges_seen"):
        wh.execute(f"alter table {EDGES_SEEN} add column origin varchar")  # edges remembered before origins were kept
        wh.execute(f"update {EDGES_SEEN} set origin = 'record'")
    if wh.table_exists(SCHEMA, TABLE) and "shared_reason" not in wh.columns(SCHEMA, TABLE):
        wh.execute(f"alter table {PERSON_MAP} add column shared_reason varchar")  # a map from before shared reasons
    had_map = wh.table_exists(SCHEMA, TABLE)
    fingerprint = _fingerprint(config, overrides)
    trusted = not whole and _trusted(wh, fingerprint)
    registry = wh.fetch_polars(f"select * from {PERSON_IDS}") if wh.table_exists(SCHEMA, "person_ids") else None
    before = (
        wh.fetch_polars(f"select identifier_key from {OUTSIDE}")["identifier_key"]
        if wh.table_exists(SCHEMA, "outside_graph")
        else None
    )
    wh.create_schema(SCHEMA)
    with wh.transaction():
        merged = _remember_edges(wh)
        part = merged and trusted and before is not None
        if part:
            gone, nodes = _touched_keys(wh, overrides)
        elif merged:
            wh.execute(f"drop table {ENDS}")
        index, edges, previous = _numbered_graph(wh, part)
        result = resolve_coded(
            index,
            edges,
            previous=None if previous is None else previous.select("node", "person_id"),
            registry=registry,
            overrides=overrides,
            config=config,
            run_at=run_at or datetime.now(UTC),
        )
        _write_components(wh, index, graph_components(index, edges, overrides), part)
        resolved = result.persons.select(pl.col("key").alias("identifier_key"), *MAP_COLUMNS[1:])
        issued = result.registry.select(*REGISTRY_SCHEMA)
        if registry is not None and registry.height:  # the ids issued now follow the registry's rows
            issued = issued.slice(registry.height)
        if had_map:
            changed = _update_map(wh, resolved, previous)
        else:
            wh.write_arrow(PERSON_MAP, resolved.to_arrow(), mode="append")
            changed = None
        if part:  # the keys outside the graph: those outside before and not back, and those gone
            outside = pl.concat([before.filter(~before.is_in(index["key"])), gone])
        else:
            outside = None if previous is None else previous["outside"].drop_nulls()
            nodes = index.height
        _list_changed_identifiers(wh, changed, outside, before)
        wh.write_arrow(PERSON_IDS, issued.to_arrow(), mode="append")
        wh.write_arrow(CHANGES, result.changes.to_arrow(), mode="append")
        counts = dict(zip(("map_rows", "edges_rows", "component_rows"), _counts(wh), strict=True))
        state = pl.DataFrame({"fingerprint": [fingerprint], **{k: [v] for k, v in counts.items()}})
        wh.write_arrow(STATE, state.to_arrow(), mode="replace")
    log.info(
        "identity: %d identifiers in the graph, %d of them resolved (%s) into %d persons; %d merges and splits",
        nodes,
        resolved.height,
        "the components that changed" if part else "the whole graph",
        result.person_count,
        result.changes.height,
    )
    return nodes


def _list_changed_identifiers(
    wh: Warehouse, changed: pl.Series | None, outside: pl.Series | None, before: pl.Series | None
) -> None:
    """Add to outflow_identity.changed_identifiers the identifiers whose person int_identity__identifiers may show
    otherwise now: the keys of the map rows written (`changed`), and those that entered or left the graph since
    the last run (`outside`: the map's keys outside the graph now, against `before`, the list the last run kept).
    Without a map or that list before (`None`), one row with a null identifier_type: every identifier."""
    if outside is not None and changed is not None and before is not None:
        keys = pl.concat([changed, outside.filter(~outside.is_in(before)), before.filter(~before.is_in(outside))])
        rows = (
            pl.DataFrame({"identifier_key": keys.unique()})
            .select(
                pl.col("identifier_key").str.extract(r"^([^:]*):", 1).alias("identifier_type"),
                pl.col("identifier_key").str.extract(r"^[^:]*:(.*)$", 1).alias("identifier_value"),
            )
            .sort("identifier_type", "identifier_value")
            .cast(QUEUE_SCHEMA)
        )
    else:
        rows = pl.DataFrame([[None, None]], schema=QUEUE_SCHEMA, orient="row")
    wh.write_arrow(CHANGED_IDENTIFIERS, rows.to_arrow(), mode="append")
    outside = pl.Series("identifier_key", [] if outside is None else outside, dtype=pl.String)
    wh.write_arrow(OUTSIDE, outside.to_frame().to_arrow(), mode="replace")


def _update_map(wh: Warehouse, resolved: pl.DataFrame, previous: pl.DataFrame) -> pl.Series:
    """Write the rows of the person map that are new or changed (an identifier that left the graph keeps its
    last row): the same table as rewriting it whole; return their keys. Each previous column is placed by node
    number and compared in turn, rather than joined whole to the answer."""
    placed = previous.filter(pl.col("node").is_not_null())
    changed = np.ones(resolved.height, bool)  # an identifier new to the map
    changed[placed["node"].to_numpy()] = False
    for c in MAP_COLUMNS[1:]:
        before = pl.Series(dtype=resolved[c].dtype).extend_constant(None, resolved.height)
        before = before.scatter(placed["node"], placed[c].cast(resolved[c].dtype))
        changed |= resolved[c].ne_missing(before).to_numpy()
    if not changed.any():
        return pl.Series("identifier_key", [], dtype=pl.String)
    wh.write_arrow(
        CHANGED, resolved.filter(pl.Series(changed)).select(MAP_COLUMNS).to_arrow(), mode="replace", temporary=True
    )
    wh.execute(f"delete from {PERSON_MAP} where identifier_key in (select identifier_key from {CHANGED})")
    columns = ", ".join(MAP_COLUMNS)
    wh.execute(f"insert into {PERSON_MAP} ({columns}) select {columns} from {CHANGED}")
    wh.execute(f"drop table {CHANGED}")
    return resolved["identifier_key"].filter(pl.Series(changed))
