"""The identity step on Spark: the graph is grouped in the cluster and each group resolved by an executor.

On Spark the identifier graph never goes to the driver. The work is cut in two:

1. Grouping, by iterative label propagation in Spark SQL (every step a `create table ... as select` through the
   warehouse interface). The links are every edge between usable identifiers (this build's edges and every edge
   seen before), every override pair, and every identifier's link to the person id the last map gave it. A group
   is a connected component of those links, so it holds everything `resolve_graph`'s rules look at for its
   identifiers: their neighbours (the shared-value guards count them), the strong cores, the weak links it may
   refuse, the overrides, the earlier ids that vote, and the registry rows of those ids and anchors.
2. Resolution, per group on the executors (groupBy + applyInPandas): `outflow.identity_graph.resolve_graph`,
   the very code the DuckDB and PostgreSQL path runs, on the group's nodes, edges, earlier map and registry rows.
   Its answers do not depend on what lies outside the group (node numbers are only compared, and a new id can
   only collide with an id anchored on the same key, which is in the group), so the ids are the same as one
   `resolve_graph` over the whole graph.

The person map, edges seen, id registry and identity changes are then written by Spark SQL, as
`outflow.person_map` writes them on the other engines, but with no transaction to hold them together: each run
writes a new generation of the four tables, then switches the views the readers use (`outflow_identity.person_map`
and the others), person_map's first, which is the commit (`_publish`, `recover`; docs/warehouses.md, Spark).

Label propagation: every node starts labelled with itself; each round it takes the smallest label among itself
and its neighbours, then the label of its label (a shortcut that halves long chains). It stops when no label
changes; the count of changed labels is logged each round, and it stops with a clear error after
`max_iterations` rounds. A group is as large as a connected component of all links, shared values included:
a value shared by many people (a household device, a junk email) joins their groups into one, resolved by one
executor (docs/warehouses.md, Spark on a cluster).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd
import polars as pl

from outflow.errors import OutflowError
from outflow.identity_graph import EDGE_COLUMNS, REGISTRY_SCHEMA, STAGE_ORIGINS, GraphConfig, Override, resolve_graph

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "outflow_identity"
TABLES = ("person_map", "edges_seen", "person_ids", "identity_changes")  # person_map first: its view commits
GENERATION = "outflow.generation"  # the table property of each view: the generation it shows
MAX_ITERATIONS = 50
IDENTIFIERS_PER_BUCKET = 200_000  # identifiers per resolve_graph call on an executor, about
_PERSON = "~person~"  # prefix of the nodes that stand for an earlier person id (no identifier key starts with ~)
# one row type in and out of the executors: kind, then generic columns (see _resolve_group)
_ROWS = "g string, kind string, s1 string, s2 string, s3 string, s4 string, n1 bigint, t1 timestamp_ntz, b1 boolean"


def _table(wh: Warehouse, name: str, select: str, schema: str = SCHEMA) -> str:
    """Materialise `select` as a work table (on Spark this also cuts the plan, like a checkpoint)."""
    wh.execute(f"drop table if exists {schema}._lp_{name}")
    wh.execute(f"create table {schema}._lp_{name} as {select}")
    return f"{schema}._lp_{name}"


def _count(wh: Warehouse, sql: str) -> int:
    row = wh.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def components(
    wh: Warehouse, nodes: str, edges: str, name: str, max_iterations: int = MAX_ITERATIONS, schema: str = SCHEMA
) -> str:
    """Label every node of `nodes` (column node) with the smallest node of its component over `edges` (src, dst,
    both directions); return the work table (node, label)."""
    labels = _table(wh, f"{name}_0", f"select node, node as label from {nodes}", schema)
    for i in range(1, max_iterations + 1):
        step = (
            f"with prop as (select e.src as node, min(l.label) as label from {edges} as e "
            f"inner join {labels} as l on l.node = e.dst group by e.src), "
            f"step as (select l.node, case when p.label < l.label then p.label else l.label end as label "
            f"from {labels} as l left join prop as p on p.node = l.node) "
            "select s.node, case when j.label < s.label then j.label else s.label end as label "
            "from step as s inner join step as j on j.node = s.label"
        )
        new = _table(wh, f"{name}_{i}", step, schema)
        changed = _count(
            wh, f"select count(*) from {new} as n inner join {labels} as o on o.node = n.node where n.label <> o.label"
        )
        wh.execute(f"drop table {labels}")
        labels = new
        log.info("identity: label propagation (%s) round %d: %d labels changed", name, i, changed)
        if not changed:
            return labels
    raise OutflowError(
        f"identity: label propagation did not converge in {max_iterations} rounds: the identifier graph has chains "
        "longer than any person's; check the over-merge guards (max_links_per_type, max_cluster_size) in "
        "dbt_project/models/intermediate/_intermediate.yml"
    )


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _resolver(config: GraphConfig, overrides: list[Override], run_at: datetime):
    """The function each executor runs on one group's rows (kind node, edge, prev, reg; see resolve_in_warehouse)."""

    def resolve(rows: pd.DataFrame) -> pd.DataFrame:
        df = pl.from_pandas(rows)
        group = df["g"].min()
        part = {kind: df.filter(pl.col("kind") == kind) for kind in ("node", "edge", "prev", "reg")}
        nodes = part["node"].select(key="s1", type="s2")
        edges = part["edge"].select(a="s1", b="s2", records="n1", last_seen_at="t1")
        previous = part["prev"].select(key="s1", person_id="s2")
        registry = part["reg"].select(person_id="s1", issued_at="t1", known="b1", anchor="s2").unique()
        registry = registry.cast(REGISTRY_SCHEMA)  # type: ignore[arg-type]
        result = resolve_graph(
            nodes, edges, previous=previous if previous.height else None, registry=registry,
            overrides=overrides, config=config, run_at=run_at,
        )  # fmt: skip
        persons = result.persons.select(
            g=pl.lit(group), kind=pl.lit("person"), s1="key", s2="type", s3="person_id", s4="shared_reason",
            n1="cluster_size", t1=pl.lit(None, pl.Datetime("us")), b1="is_shared",
        )  # fmt: skip
        issued = result.registry.join(registry.select("person_id"), on="person_id", how="anti").select(
            g=pl.lit(group), kind=pl.lit("reg"), s1="person_id", s2="anchor", s3=pl.lit(None, pl.String),
            s4=pl.lit(None, pl.String), n1=pl.lit(None, pl.Int64), t1="issued_at", b1="known",
        )  # fmt: skip
        changes = result.changes.select(
            g=pl.lit(group), kind=pl.lit("change"), s1="change", s2="from_person_id", s3="to_person_id",
            s4="reason", n1="identifiers", t1="changed_at", b1=pl.lit(None, pl.Boolean),
        )  # fmt: skip
        return pl.concat([persons, issued, changes], how="vertical_relaxed").to_pandas()

    return resolve


def resolve_in_warehouse(
    wh: Warehouse,
    config: GraphConfig,
    overrides: list[Override] | None = None,
    run_at: datetime | None = None,
    max_iterations: int = MAX_ITERATIONS,
    source: str = "main",
    schema: str = SCHEMA,
) -> int:
    """Resolve the graph dbt built (int_identity__nodes and __edges in schema `source`) and replace the person map
    (and the other tables of `schema`), all in Spark; return the identifiers resolved.

    The four tables are published together (`_publish`): a crash at any point leaves the readers on the last
    run's, and the next run brings them to one generation (`recover`) before it starts."""

    def table(name: str, select: str) -> str:
        return _table(wh, name, select, schema)

    run_at = (run_at or datetime.now(UTC)).replace(tzinfo=None)
    overrides = list(overrides or [])
    wh.create_schema(schema)
    committed = recover(wh, schema)
    token = uuid.uuid4().hex[:12]  # this run's generation; a crash before its switch leaves it unseen

    person_map, edges_seen, person_ids, changes = (  # the committed generation's tables (None: not there)
        f"{schema}.{name}__{committed}" if committed and wh.table_exists(schema, f"{name}__{committed}") else None
        for name in TABLES
    )
    had_map, had_registry = person_map is not None, person_ids is not None
    nodes = table(
        "nodes",
        f"select identifier_key as key, min(identifier_type) as type from {source}.int_identity__nodes "
        "where block_reason is null group by identifier_key",
    )
    # this build's edges added to every edge seen before (a pair keeps its first record and first seen, per
    # origin); the remembered edges of a stage switched off are dropped, as in outflow.person_map
    columns = ", ".join(EDGE_COLUMNS)
    seen = ""
    if edges_seen:
        remembered = columns
        if "origin" not in wh.columns(schema, edges_seen.split(".")[1]):  # remembered before origins were kept
            remembered = columns.replace("origin", "'record' as origin")
        off = [f"'{o}'" for o, t in STAGE_ORIGINS.items() if not wh.table_exists(schema, t)]
        where = f" where origin not in ({', '.join(off)})" if off else ""
        seen = f" union all select * from (select {remembered} from {edges_seen}) as s{where}"
    edges = table(
        "edges",
        f"select {columns} from ("
        f"select a, b, origin, max(records) over w as records, min(first_seen_at) over w as first_seen_at, "
        f"max(last_seen_at) over w as last_seen_at, source_record, row_number() over (partition by a, b, origin "
        f"order by first_seen_at asc nulls last, source_record asc nulls last) as r "
        f"from (select {columns} from {source}.int_identity__edges{seen}) as x window w as (partition by a, b, origin)"
        f") as y where r = 1",
    )
    previous = (
        f"(select identifier_key as key, person_id from {person_map} where person_id is not null)"
        if had_map
        else "(select cast(null as string) as key, cast(null as string) as person_id where false)"
    )
    pairs = [f"({_quote(o.a)}, {_quote(o.b)})" for o in overrides]
    override_links = (
        f"select a, b from (values {', '.join(pairs)}) as o(a, b) "
        f"where a in (select key from {nodes}) and b in (select key from {nodes})"
        if pairs
        else "select cast(null as string) as a, cast(null as string) as b where false"
    )
    links = table(
        "links",
        f"select e.a as src, e.b as dst from {edges} as e inner join {nodes} as x on x.key = e.a "
        f"inner join {nodes} as y on y.key = e.b where e.a <> e.b "
        f"union all {override_links} "
        f"union all select key, '{_PERSON}' || person_id from {previous} as p",
    )
    both = table("both", f"select src, dst from {links} union select dst, src from {links}")
    group_nodes = table(
        "gnodes", f"select key as node from {nodes} union select src from {both} union select dst from {both}"
    )
    groups = components(wh, group_nodes, both, "groups", max_iterations, schema)
    registry = (
        f"select l.label as g, r.person_id, r.issued_at, r.known, r.anchor from {person_ids} as r "
        f"inner join {groups} as l on l.node = '{_PERSON}' || r.person_id union "
        f"select l.label, r.person_id, r.issued_at, r.known, r.anchor from {person_ids} as r "
        f"inner join {groups} as l on l.node = r.anchor"
        if had_registry
        else None
    )
    null = "cast(null as string)"
    rows = (
        f"select l.label as g, 'node' as kind, n.key as s1, n.type as s2, {null} as s3, {null} as s4, "
        f"cast(null as bigint) as n1, cast(null as timestamp_ntz) as t1, cast(null as boolean) as b1 "
        f"from {nodes} as n inner join {groups} as l on l.node = n.key "
        f"union all select l.label, 'edge', e.a, e.b, {null}, {null}, cast(e.records as bigint), "
        f"cast(e.last_seen_at as timestamp_ntz), null from {edges} as e inner join {groups} as l on l.node = e.a "
        f"where e.a in (select key from {nodes}) and e.b in (select key from {nodes}) and e.a <> e.b "
        f"union all select l.label, 'prev', p.key, p.person_id, {null}, {null}, null, null, null "
        f"from {previous} as p inner join {groups} as l on l.node = p.key"
    )
    if registry:
        rows += (
            f" union all select g, 'reg', person_id, anchor, {null}, {null}, null, "
            f"cast(issued_at as timestamp_ntz), known from ({registry}) as r"
        )
    # groups are dealt into buckets, one resolve_graph call each (a bucket of whole groups is as independent as
    # one group): as many as the shuffle partitions, more when the graph is large, so that each call stays small
    spark = wh.spark  # type: ignore[attr-defined]
    size = _count(wh, f"select count(*) from {nodes}")
    buckets = max(int(spark.conf.get("spark.sql.shuffle.partitions")), size // IDENTIFIERS_PER_BUCKET + 1)
    resolved = (
        spark.sql(f"select pmod(hash(g), {buckets}) as bucket, * from ({rows}) as r")
        .groupBy("bucket")
        .applyInPandas(_resolver(config, overrides, run_at), schema=_ROWS)
    )
    resolved.createOrReplaceTempView("outflow_identity_resolved")
    out = table("out", "select * from outflow_identity_resolved")
    persons = (
        f"select s1 as identifier_key, s3 as person_id, b1 as is_shared, n1 as cluster_size, s4 as shared_reason "
        f"from {out} where kind = 'person'"
    )
    if had_map:  # identifiers that left the graph keep their last row, as in outflow.person_map
        reason = "m.shared_reason" if "shared_reason" in wh.columns(schema, f"person_map__{committed}") else null
        persons += (
            f" union all select m.identifier_key, m.person_id, m.is_shared, cast(m.cluster_size as bigint), {reason} "
            f"from {person_map} as m where m.identifier_key not in (select s1 from {out} where kind = 'person')"
        )
    result = table("result", persons)
    registered = "person_id, issued_at, known, anchor"
    changed = "changed_at, change, from_person_id, to_person_id, identifiers, reason"
    issued = f"select s1 as person_id, t1 as issued_at, b1 as known, s2 as anchor from {out} where kind = 'reg'"
    reported = (
        f"select t1 as changed_at, s1 as change, s2 as from_person_id, s3 as to_person_id, n1 as identifiers, "
        f"s4 as reason from {out} where kind = 'change'"
    )
    _publish(
        wh,
        schema,
        token,
        {
            "person_map": f"select * from {result}",
            "edges_seen": f"select {columns} from {edges}",
            "person_ids": f"select {registered} from {person_ids} union all {issued}" if person_ids else issued,
            "identity_changes": f"select {changed} from {changes} union all {reported}" if changes else reported,
        },
    )
    identifiers = _count(wh, f"select count(*) from {out} where kind = 'person'")
    persons_n = _count(wh, f"select count(distinct s3) from {out} where kind = 'person'")
    biggest = _count(
        wh,
        f"select max(n) from (select count(*) as n from {groups} where node in (select key from {nodes}) "
        "group by label) as s",
    )
    for name in wh.tables(schema):
        if name.startswith("_lp_"):
            wh.execute(f"drop table if exists {schema}.{name}")
    log.info(
        "identity: %d identifiers resolved into %d persons on Spark (%d buckets; the largest group: %d identifiers)",
        identifiers,
        persons_n,
        buckets,
        biggest,
    )
    return identifiers


def _generation(wh: Warehouse, schema: str, name: str) -> str | None:
    """The generation the view `schema.name` shows (its table property), or None (no such view)."""
    try:
        if wh.spark.catalog.getTable(f"{schema}.{name}").tableType != "VIEW":  # type: ignore[attr-defined]
            return None
    except Exception:  # no such table or view (pyspark's AnalysisException)
        return None
    return dict(wh.execute(f"show tblproperties {schema}.{name}").fetchall()).get(GENERATION)


def _switch(wh: Warehouse, schema: str, token: str) -> None:
    """Point the views at generation `token`, person_map first: that one statement is the commit."""
    for name in TABLES:
        if _generation(wh, schema, name) != token and wh.table_exists(schema, f"{name}__{token}"):
            wh.execute(
                f"create or replace view {schema}.{name} tblproperties ('{GENERATION}' = '{token}') "
                f"as select * from {schema}.{name}__{token}"
            )


def _drop_others(wh: Warehouse, schema: str, token: str | None) -> None:
    """Drop every generation's tables but `token`'s (an unfinished run's, or the one before)."""
    for table in wh.tables(schema):
        name, sep, gen = table.rpartition("__")
        if sep and name in TABLES and gen != token:
            wh.execute(f"drop table if exists {schema}.{table}")


def recover(wh: Warehouse, schema: str = SCHEMA) -> str | None:
    """Bring `schema` to the generation its person_map view shows (the last committed run) and return it (None
    before the first run): the views a crash left on the generation before are switched, the tables of any other
    generation dropped. Tables written before generations were kept become generation `legacy`."""
    committed = _generation(wh, schema, "person_map")
    if committed is None and (wh.table_exists(schema, "person_map") or wh.table_exists(schema, "person_map__legacy")):
        for name in (*TABLES[1:], TABLES[0]):  # person_map last: while it is a table, this is not done
            if wh.table_exists(schema, name):  # a table: no view is made before person_map's
                wh.execute(f"alter table {schema}.{name} rename to {schema}.{name}__legacy")
        committed = "legacy"
    if committed:
        _switch(wh, schema, committed)
    _drop_others(wh, schema, committed)
    return committed


def _publish(wh: Warehouse, schema: str, token: str, selects: dict[str, str]) -> None:
    """Write generation `token` of every table, switch the views to it, then drop the generation before."""
    for name in TABLES:
        wh.execute(f"create table {schema}.{name}__{token} as {selects[name]}")
    _switch(wh, schema, token)
    _drop_others(wh, schema, token)
