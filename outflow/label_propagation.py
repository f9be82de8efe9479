"""The identity step inside the warehouse: connected components by iterative label propagation, in SQL.

On Spark the identifier graph never leaves the cluster: every step below is one `create table ... as select`
through the warehouse interface (Spark SQL), so the graph is only as big as the cluster, not as one machine.
It gives the same answer as `outflow.identity.resolve` (the in-memory path DuckDB and PostgreSQL use):

- the same guards: an identifier linked to more distinct identifiers of one type than that type's cap is shared
  and bridges nothing; a component larger than `max_cluster_size` loses the weak links (cookies, devices) inside
  it and is computed again;
- the same person ids: "p_" + the first 16 hex digits of the md5 of the component's smallest identifier key,
  and an id of an earlier run stays with the component that holds most of its identifiers (a component holding
  several keeps the smallest). Equal votes go to the component with the smallest identifier key.

Label propagation: every identifier starts labelled with its own key; each round it takes the smallest label
among itself and its neighbours, then the label of its label (a shortcut that halves long chains). It stops when
no label changes; the count of changed labels is logged each round, and it gives up with a clear error after
`max_iterations` rounds (a real identity graph converges in a handful: its components are small and shallow).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from outflow.errors import OutflowError
from outflow.identity import WEAK_TYPES, IdentityConfig

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "outflow_identity"
PERSON_MAP = f"{SCHEMA}.person_map"
MAX_ITERATIONS = 50
_WORK = f"{SCHEMA}._lp_"


def _table(wh: Warehouse, name: str, select: str) -> str:
    """Materialise `select` as a work table (on Spark this also cuts the plan, like a checkpoint)."""
    wh.execute(f"drop table if exists {_WORK}{name}")
    wh.execute(f"create table {_WORK}{name} as {select}")
    return f"{_WORK}{name}"


def _count(wh: Warehouse, sql: str) -> int:
    row = wh.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def components(wh: Warehouse, nodes: str, edges: str, name: str, max_iterations: int = MAX_ITERATIONS) -> str:
    """Label every node of `nodes` (column node) with the smallest node of its component over `edges` (src, dst,
    both directions); return the work table (node, label)."""
    labels = _table(wh, f"{name}_0", f"select node, node as label from {nodes}")
    for i in range(1, max_iterations + 1):
        step = (
            f"with prop as (select e.src as node, min(l.label) as label from {edges} as e "
            f"inner join {labels} as l on l.node = e.dst group by e.src), "
            f"step as (select l.node, case when p.label < l.label then p.label else l.label end as label "
            f"from {labels} as l left join prop as p on p.node = l.node) "
            "select s.node, case when j.label < s.label then j.label else s.label end as label "
            "from step as s inner join step as j on j.node = s.label"
        )
        new = _table(wh, f"{name}_{i}", step)
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


def resolve_in_warehouse(wh: Warehouse, config: IdentityConfig, max_iterations: int = MAX_ITERATIONS) -> int:
    """Resolve the graph dbt built and replace the person map, all in the warehouse; return identifiers resolved."""
    wh.create_schema(SCHEMA)
    nodes = _table(
        wh,
        "nodes",
        "select identifier_key as node, min(identifier_type) as type from main.int_identity__nodes "
        "where block_reason is null group by identifier_key",
    )
    pairs = _table(
        wh,
        "pairs",
        f"select distinct e.a as node, e.b as other from main.int_identity__edges as e "
        f"inner join {nodes} as x on x.node = e.a inner join {nodes} as y on y.node = e.b where e.a <> e.b "
        f"union select distinct e.b, e.a from main.int_identity__edges as e "
        f"inner join {nodes} as x on x.node = e.a inner join {nodes} as y on y.node = e.b where e.a <> e.b",
    )
    caps = " union all ".join(
        f"select '{t}' as type, {int(c)} as cap" for t, c in sorted(config.max_links_per_type.items())
    )
    shared = _table(
        wh,
        "shared",
        f"select distinct p.node from {pairs} as p inner join {nodes} as o on o.node = p.other "
        f"inner join ({caps}) as caps on caps.type = o.type "
        "group by p.node, o.type, caps.cap having count(distinct p.other) > caps.cap",
    )
    usable = _table(
        wh,
        "usable",
        f"select p.node as src, p.other as dst from {pairs} as p "
        f"where p.node not in (select node from {shared}) and p.other not in (select node from {shared})",
    )
    labels = components(wh, nodes, usable, "pass1", max_iterations)
    sizes = f"(select label, count(*) as size from {labels} group by label)"
    if _count(wh, f"select max(size) from {sizes} as s") > config.max_cluster_size:
        weak = ", ".join(f"'{t}'" for t in WEAK_TYPES)
        kept = _table(
            wh,
            "kept",
            f"select u.src, u.dst from {usable} as u "
            f"inner join {labels} as l on l.node = u.src inner join {sizes} as s on s.label = l.label "
            f"inner join {nodes} as a on a.node = u.src inner join {nodes} as b on b.node = u.dst "
            f"where not (s.size > {int(config.max_cluster_size)} and (a.type in ({weak}) or b.type in ({weak})))",
        )
        labels = components(wh, nodes, kept, "pass2", max_iterations)
        sizes = f"(select label, count(*) as size from {labels} group by label)"
    out = _table(
        wh,
        "out",
        f"select l.node as identifier_key, l.label, s.size as cluster_size, "
        f"(l.node in (select node from {shared})) as is_shared "
        f"from {labels} as l inner join {sizes} as s on s.label = l.label",
    )
    had_map = wh.table_exists(SCHEMA, "person_map")
    comp_id = f"select label, cast(null as varchar) as prev_id from {out} group by label"
    if had_map:
        prev = f"(select identifier_key, person_id as prev_id from {PERSON_MAP} where person_id is not null)"
        comp_id = (
            f"select label, min(prev_id) as prev_id from ("
            f"select label, prev_id, row_number() over (partition by prev_id order by members desc, label) as r "
            f"from (select o.label, p.prev_id, count(*) as members from {out} as o "
            f"inner join {prev} as p on p.identifier_key = o.identifier_key group by o.label, p.prev_id) as votes"
            ") as ranked where r = 1 group by label"
        )
    resolved = (
        f"select o.identifier_key, case when o.is_shared then cast(null as varchar) "
        f"else coalesce(c.prev_id, 'p_' || substr(md5(o.label), 1, 16)) end as person_id, "
        f"o.is_shared, cast(o.cluster_size as bigint) as cluster_size "
        f"from {out} as o left join ({comp_id}) as c on c.label = o.label"
    )
    if had_map:  # identifiers that left the graph keep their last row, as in outflow.person_map
        resolved += (
            f" union all select m.identifier_key, m.person_id, m.is_shared, m.cluster_size from {PERSON_MAP} as m "
            f"where m.identifier_key not in (select identifier_key from {out})"
        )
    result = _table(wh, "result", resolved)
    if had_map:
        wh.execute(f"drop table {PERSON_MAP}")
    wh.execute(f"create table {PERSON_MAP} as select * from {result}")
    identifiers = _count(wh, f"select count(*) from {out}")
    persons = _count(wh, f"select count(distinct person_id) from {result}")
    for name in ("nodes", "pairs", "shared", "usable", "kept", "out", "result", "pass1_0", "pass2_0"):
        wh.execute(f"drop table if exists {_WORK}{name}")
    for table in wh.tables(SCHEMA):
        if table.startswith("_lp_"):
            wh.execute(f"drop table if exists {SCHEMA}.{table}")
    log.info(
        "identity: %d identifiers resolved into %d persons (label propagation in the warehouse)", identifiers, persons
    )
    return identifiers
