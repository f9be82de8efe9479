"""Conflict-aware identity resolution with stable, collision-free person ids.

The identity step (outflow/person_map.py) calls `resolve_graph` on the graph dbt built (usable identifiers and
the edges between identifiers seen in one record) and on what earlier runs left: the person map, the registry
of every person id ever issued, and the user's overrides. Nothing here imports Dagster or a warehouse driver.

The rules, in order (docs/identity.md explains each one and its setting):

1. Shared values never link. An identifier is shared when it is linked to more distinct identifiers of one type
   than that type's cap (`max_links_per_type`), when a weak identifier (a cookie, a device) is linked to more
   distinct identifiers of all types together than `max_weak_links` (a household device), or when an
   identifier of any type is seen with more than `max_persons` persons formed by strong identifiers alone.
2. Strong identifiers (CRM ids, user ids, emails) seen in one record are one person: these edges always link.
3. Weak links (any edge with a weak end: cookies, devices, phones) are added strongest first (most records,
   then most recent, then by key). A weak link never joins two groups that each hold a strong identifier of a
   conflicting type (two CRM ids, two user ids, two emails of different people) and never grows a person past
   `max_cluster_size`: the links that would have grown it are the ones left out, so a weak identifier seen with
   two people belongs to the one it was seen with most.
4. Overrides win over every rule: a forced merge links its two identifiers first; a never-merge pair is never
   in one person, whatever links them (a never-merge wins over a forced merge that contradicts it).
5. Ids: a person keeps the id of the earlier person that held most of its strong identifiers (then most
   identifiers). When several earlier persons merge, the oldest id of a *known* person survives (then the
   smallest id); a person with a strong identifier never takes an id issued to a cookie-only person. A new id is
   "p_" + 16 hex digits of the md5 of the person's smallest identifier key, salted ("#1", "#2"...) until it
   differs from every id ever issued. Every moved identifier is reported as a merge or a split with its reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl

from outflow.identity import _distinct, connected_components, new_person_ids, shared_mask

STRONG_TYPES = ("crm_id", "user_id", "email")
HUB_TYPES = ("cookie", "device")

MAP_SCHEMA = {
    "key": pl.String,
    "type": pl.String,
    "person_id": pl.String,
    "is_shared": pl.Boolean,
    "shared_reason": pl.String,
    "cluster_size": pl.Int64,
}
# the columns of a remembered edge (outflow_identity.edges_seen), its origin first among its facts
EDGE_COLUMNS = ["a", "b", "origin", "records", "first_seen_at", "last_seen_at", "source_record"]
# edges made by a stage that can be switched off, and the outflow_identity table that exists while it is on
STAGE_ORIGINS = {"fuzzy": "fuzzy_links"}
REGISTRY_SCHEMA = {"person_id": pl.String, "issued_at": pl.Datetime("us"), "known": pl.Boolean, "anchor": pl.String}
CHANGES_SCHEMA = {
    "changed_at": pl.Datetime("us"),
    "change": pl.String,
    "from_person_id": pl.String,
    "to_person_id": pl.String,
    "identifiers": pl.Int64,
    "reason": pl.String,
}


@dataclass(frozen=True)
class GraphConfig:
    # an identifier linked to more than this many distinct identifiers of the type is shared
    max_links_per_type: dict[str, int] = field(
        default_factory=lambda: {"user_id": 1, "crm_id": 3, "email": 2, "phone": 2}
    )
    max_cluster_size: int = 200
    # a cookie or device linked to more distinct identifiers than this, of all types together, is shared
    max_weak_links: int = 2
    # an identifier seen with more persons (formed by strong identifiers alone) than this is shared
    max_persons: int = 2
    strong_types: tuple[str, ...] = STRONG_TYPES
    # two groups that each hold one of these types never join through a weak link
    conflict_types: tuple[str, ...] = STRONG_TYPES
    # keys of a source's own records: two of them conflict only when both groups also hold another strong
    # identifier (a CRM duplicate with no email of its own may still join its person through a phone)
    record_key_types: tuple[str, ...] = ("crm_id",)


@dataclass(frozen=True)
class Override:
    action: str  # "merge" or "never_merge"
    a: str  # identifier keys, e.g. "email:ann@x.com"
    b: str
    reason: str = ""


@dataclass
class Resolution:
    persons: pl.DataFrame  # MAP_SCHEMA, one row per node
    registry: pl.DataFrame  # REGISTRY_SCHEMA: every id ever issued, the new ones appended
    changes: pl.DataFrame  # CHANGES_SCHEMA: this run's merges and splits
    person_count: int = 0  # the distinct person ids in `persons`


class _Components:
    """Union-find over a few nodes, each root carrying its conflict-type bits, size and never-merge tags."""

    def __init__(self, bits: list[int], tags: list[frozenset]) -> None:
        self.parent = list(range(len(bits)))
        self.bits = bits
        self.size = [1] * len(bits)
        self.tags = tags  # frozenset of (pair number, side)

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def never(self, ra: int, rb: int) -> bool:
        ta, tb = self.tags[ra], self.tags[rb]
        return bool(ta and tb) and any((pair, 1 - side) in tb for pair, side in ta)

    def union(self, ra: int, rb: int) -> None:
        if ra > rb:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.bits[ra] |= self.bits[rb]
        self.size[ra] += self.size[rb]
        self.tags[ra] = self.tags[ra] | self.tags[rb]


def _coded_edges(edges: pl.DataFrame, index: pl.DataFrame) -> tuple[np.ndarray, ...]:
    """Edges as node numbers (the row of each end's key in `index`) with their records and last seen (epoch µs);
    edges with an end outside `index` are left out."""
    ends = index.select("key").with_row_index("idx").cast({"idx": pl.Int64})
    coded = (
        edges.select("a", "b", *[c for c in ("records", "last_seen_at") if c in edges.columns])
        .join(ends.rename({"key": "a", "idx": "x"}), on="a")
        .join(ends.rename({"key": "b", "idx": "y"}), on="b")
    )
    return coded_edges(coded)


def coded_edges(coded: pl.DataFrame) -> tuple[np.ndarray, ...]:
    """`x`, `y` (node numbers) and optionally `records`, `last_seen_at` as arrays: records (1 where missing) and
    last seen in epoch µs (0 where missing)."""
    records = (
        coded["records"].cast(pl.Int64).fill_null(1).to_numpy()
        if "records" in coded.columns
        else np.ones(coded.height, np.int64)
    )
    last = (
        coded["last_seen_at"].cast(pl.Datetime("us")).dt.epoch("us").fill_null(0).to_numpy()
        if "last_seen_at" in coded.columns
        else np.zeros(coded.height, np.int64)
    )
    return coded["x"].to_numpy(), coded["y"].to_numpy(), records, last


def _unique_pairs(x, y, records, last, n: int) -> tuple[np.ndarray, ...]:
    """One edge per pair of distinct nodes, as (ia < ib), with its most records and latest last seen; sorted by
    pair."""
    x, y = np.asarray(x, np.int64), np.asarray(y, np.int64)
    pair = np.minimum(x, y) * n + np.maximum(x, y)
    keep = x != y
    pair, records, last = pair[keep], records[keep], last[keep]
    order = np.argsort(pair)  # a pair's maxima do not depend on its edges' order: no stable sort needed
    pair, records, last = pair[order], records[order], last[order]
    if not pair.size:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    unique = pair[starts]
    return unique // n, unique % n, np.maximum.reduceat(records, starts), np.maximum.reduceat(last, starts)


def _shared_in_graph(ia: np.ndarray, ib: np.ndarray, n: int, hub: np.ndarray, strong: np.ndarray, config: GraphConfig):
    """Household devices (total degree of a cookie or device) and values of any type seen with too many persons
    (groups that strong identifiers alone form): masks, and the counts for the reasons."""
    node = np.concatenate([ia, ib])
    other = np.concatenate([ib, ia])
    degree = np.bincount(node, minlength=n)  # edges are distinct pairs, so this counts distinct neighbours
    by_degree = hub & (degree > config.max_weak_links)
    both_strong = strong[ia] & strong[ib]
    cores = connected_components(ia[both_strong], ib[both_strong], n)
    toward_core = ~strong[node] & strong[other]
    pairs = _distinct(node[toward_core] * n + cores[other[toward_core]])
    persons = np.bincount(pairs // n, minlength=n)
    by_persons = ~strong & (persons > config.max_persons)
    # a strong identifier meets other persons through the weak identifiers it shares (a junk user id typed by
    # many visitors): itself and each other group met count
    weak_ok = ~strong & ~by_degree & ~by_persons
    through = strong[node] & weak_ok[other]
    w, s, c = other[through], node[through], cores[node[through]]
    # only a weak identifier seen with two groups or more makes one meet another: the others are left out first
    wc = _distinct(w * n + c) // n
    several = np.zeros(n, bool)
    several[wc[1:][wc[1:] == wc[:-1]]] = True
    keep = several[w]
    met = pl.DataFrame({"w": w[keep], "s": s[keep], "c": c[keep]})
    met = met.join(met.select("w", other_core="c"), on="w").filter(pl.col("c") != pl.col("other_core"))
    met = met.select("s", "other_core").unique()
    strong_persons = 1 + np.bincount(met["s"].to_numpy(), minlength=n)
    persons = np.where(strong, strong_persons, persons)
    by_persons |= strong & (strong_persons > config.max_persons)
    return by_degree, degree, by_persons, persons


def resolve_graph(
    nodes: pl.DataFrame,
    edges: pl.DataFrame,
    previous: pl.DataFrame | None = None,
    registry: pl.DataFrame | None = None,
    overrides: list[Override] | tuple[Override, ...] = (),
    config: GraphConfig | None = None,
    run_at: datetime | None = None,
) -> Resolution:
    """Group identifiers into persons.

    nodes: `key` ("email:ann@x.com"), `type`. edges: `a`, `b` and optionally `records`, `last_seen_at`.
    previous: the last map's `key`, `person_id`. registry: every id issued before (REGISTRY_SCHEMA).
    """
    # sorted by key, so that node numbers, component labels and every tie break depend on the data only
    index = nodes.select("key", "type").unique("key").sort("key")
    coded_previous = None
    if previous is not None:
        numbered = index.select("key").with_row_index("node").cast({"node": pl.Int64})
        # an identifier that left the graph has no node number, but its id still counts as issued
        coded_previous = previous.join(numbered, on="key", how="left").select("node", "person_id")
    return resolve_coded(index, _coded_edges(edges, index), coded_previous, registry, overrides, config, run_at)


def resolve_coded(
    index: pl.DataFrame,
    edges: tuple[np.ndarray, ...],
    previous: pl.DataFrame | None = None,
    registry: pl.DataFrame | None = None,
    overrides: list[Override] | tuple[Override, ...] = (),
    config: GraphConfig | None = None,
    run_at: datetime | None = None,
) -> Resolution:
    """`resolve_graph` on numbered nodes: index holds `key`, `type`, one row per node, sorted by key (a node's
    number is its row); edges are (x, y, records, last seen in epoch µs) arrays of node numbers (`coded_edges`),
    in any order, repeats allowed; previous holds `node` (null for an identifier no longer in the graph) and
    `person_id`. Persons come back in the index's order."""
    config = config or GraphConfig()
    run_at = (run_at or datetime.now(UTC)).replace(tzinfo=None)
    n = index.height
    forced, never = _override_pairs(index, overrides)
    type_names = sorted(set(index["type"].unique().to_list()) | set(config.max_links_per_type))
    type_code = {t: i for i, t in enumerate(type_names)}
    tc = index["type"].replace_strict(type_code, return_dtype=pl.Int64).to_numpy()
    types = np.array(type_names, dtype=object)
    strong = np.isin(types, config.strong_types)[tc] if n else np.zeros(0, bool)
    hub = np.isin(types, HUB_TYPES)[tc] if n else np.zeros(0, bool)

    ia, ib, records, last = _unique_pairs(*edges, n)

    # 1. shared values
    caps = np.array([config.max_links_per_type.get(t, -1) for t in type_names], dtype=np.int64)
    by_type = shared_mask(ia, ib, tc[ia], tc[ib], n, caps, distinct=True) if n else np.zeros(0, bool)
    by_degree, degree, by_persons, persons = _shared_in_graph(ia, ib, n, hub, strong, config)
    shared = by_type | by_degree | by_persons

    # overrides: forced merges un-share their identifiers (an override wins over every rule)
    for x, y in forced:
        shared[[x, y]] = False
    reason = _shared_reasons(shared, by_type, by_degree, degree, by_persons, persons)
    usable = ~shared[ia] & ~shared[ib]
    ia, ib, records, last = ia[usable], ib[usable], records[usable], last[usable]
    fa = np.array([x for x, _ in forced], dtype=np.int64)
    fb = np.array([y for _, y in forced], dtype=np.int64)

    # 2-3. fast path: components with no conflict, no oversize and no never-merge pair are final as they are
    labels = connected_components(np.r_[ia, fa], np.r_[ib, fb], n)
    sizes = np.bincount(labels, minlength=n)
    both_strong = strong[ia] & strong[ib]
    cores = connected_components(np.r_[ia[both_strong], fa], np.r_[ib[both_strong], fb], n)
    record_key = np.isin(types, config.record_key_types)[tc] if n else np.zeros(0, bool)
    full_core = np.zeros(n, bool)
    full_core[cores[strong & ~record_key & ~shared]] = True
    conflict_code = np.isin(types, config.conflict_types)[tc] if n else np.zeros(0, bool)
    conflict_code &= ~record_key | full_core[cores]
    holders = np.flatnonzero(conflict_code & ~shared)
    core_type = _distinct(labels[holders] * (n * len(types)) + cores[holders] * len(types) + tc[holders])
    # a component where one conflict type sits in two cores (two CRM ids, user ids or emails of different people)
    comp_type = np.sort((core_type // (n * len(types))) * len(types) + core_type % len(types))
    conflicted = np.zeros(n, bool)
    conflicted[comp_type[1:][comp_type[1:] == comp_type[:-1]] // len(types)] = True
    hard = conflicted | (sizes > config.max_cluster_size)
    for x, _ in never:
        hard[labels[x]] = True
    cut = np.zeros(n, bool)  # nodes at the end of a weak link left out (for the change reasons)
    if hard.any():
        labels, cut = _resolve_hard(
            labels, hard, ia, ib, records, last, fa, fb, never, strong, tc, conflict_code, config, n
        )
        sizes = np.bincount(labels, minlength=n)

    known = np.zeros(n, bool)
    known[labels[strong & ~shared]] = True
    persons_out = pl.DataFrame(
        {
            "node": np.arange(n, dtype=np.int64),
            "comp": labels.astype(np.int64),
            "is_shared": shared,
            "shared_reason": reason,
            "cluster_size": sizes[labels].astype(np.int64),
            "strong": strong,
            "cut": cut,
            "known": known[labels],
        }
    )
    return _assign_ids(persons_out, index, previous, registry, never, forced, run_at)


def _override_pairs(index: pl.DataFrame, overrides) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The forced merges and the never-merge pairs whose identifiers are both in the graph, as node numbers (only
    the overrides' keys are looked up: a lookup of every key would cost a dict of n strings)."""
    named = list({k for o in overrides for k in (o.a, o.b)})
    node_of = {}
    if named:
        found = index.select("key").with_row_index("idx").filter(pl.col("key").is_in(named))
        node_of = dict(found.select("key", "idx").rows())
    forced, never = [], []
    for o in overrides:
        if o.a in node_of and o.b in node_of:
            (forced if o.action == "merge" else never).append((node_of[o.a], node_of[o.b]))
    return forced, never


def graph_components(index: pl.DataFrame, edges: tuple[np.ndarray, ...], overrides=()) -> np.ndarray:
    """Each node's component of every edge, shared values included, and of the forced merges: no rule (the caps,
    the persons a value is seen with, conflicts, the size guard, never-merge pairs) looks further than one, and
    an old id is voted for only by the nodes that held it, so a component whose nodes and edges did not change,
    and whose old ids no other component holds, resolves as it did."""
    forced, _ = _override_pairs(index, overrides)
    fa, fb = np.array(forced, dtype=np.int64).reshape(-1, 2).T
    return connected_components(np.r_[edges[0], fa], np.r_[edges[1], fb], index.height)


def _shared_reasons(shared, by_type, by_degree, degree, by_persons, persons) -> pl.Series:
    """The reason of each shared value (null for the others): the per-type cap first, then the total degree,
    then the persons seen with; formatted for the shared rows only."""
    rows = np.flatnonzero(shared)
    text = pl.select(
        pl.when(pl.lit(pl.Series(by_type[rows])))
        .then(pl.lit("shared: too many identifiers of one type"))
        .when(pl.lit(pl.Series(by_degree[rows])))
        .then(pl.format("shared: linked to {} identifiers", pl.lit(pl.Series(degree[rows]))))
        .when(pl.lit(pl.Series(by_persons[rows])))
        .then(pl.format("shared: seen with {} persons", pl.lit(pl.Series(persons[rows]))))
    ).to_series()
    return pl.Series(dtype=pl.String).extend_constant(None, shared.size).scatter(rows, text)


def _resolve_hard(labels, hard, ia, ib, records, last, fa, fb, never, strong, tc, conflict_code, config, n):
    """Components with a conflict, an oversize or a never-merge pair, rebuilt link by link (rules 2-4)."""
    members = np.flatnonzero(hard[labels])
    local = np.full(n, -1, dtype=np.int64)
    local[members] = np.arange(members.size)
    conflict_types = sorted({int(t) for t in tc[members[conflict_code[members]]]})
    bit = {t: 1 << i for i, t in enumerate(conflict_types)}
    bits = [bit.get(int(tc[m]), 0) if conflict_code[m] else 0 for m in members]
    tags: list[frozenset] = [frozenset()] * members.size
    for pair, (x, y) in enumerate(never):
        for side, node in enumerate((x, y)):
            if local[node] >= 0:
                tags[local[node]] = tags[local[node]] | {(pair, side)}
    uf = _Components(bits, tags)
    inside = hard[labels[ia]]
    ea, eb = local[ia[inside]], local[ib[inside]]
    w_strong = strong[ia[inside]] & strong[ib[inside]]
    # strongest first: most records, most recent, then by node number (i.e. by key)
    order = np.lexsort((eb, ea, -last[inside], -records[inside], ~w_strong))
    cut_local = np.zeros(members.size, bool)
    forced = [(local[x], local[y]) for x, y in zip(fa.tolist(), fb.tolist(), strict=True) if hard[labels[x]]]
    steps = [(x, y, True, True) for x, y in forced]
    steps += [(int(ea[i]), int(eb[i]), bool(w_strong[i]), False) for i in order]
    for x, y, is_strong, is_forced in steps:
        rx, ry = uf.find(x), uf.find(y)
        if rx == ry or uf.never(rx, ry):
            continue
        if not (is_strong or is_forced) and (
            uf.bits[rx] & uf.bits[ry] or uf.size[rx] + uf.size[ry] > config.max_cluster_size
        ):
            cut_local[[x, y]] = True
            continue
        uf.union(rx, ry)
    roots = np.array([uf.find(i) for i in range(members.size)], dtype=np.int64)
    # label = the smallest node number in the new component (members are sorted, so the root's first member)
    first = np.full(members.size, n, dtype=np.int64)
    np.minimum.at(first, roots, members)
    labels = labels.copy()
    labels[members] = first[roots]
    cut = np.zeros(n, bool)
    cut[members] = cut_local
    return labels, cut


def _salted_id(anchor: str, salt: int) -> str:
    return "p_" + hashlib.md5(f"{anchor}#{salt}".encode()).hexdigest()[:16]


def _assign_ids(out, index, previous, registry, never, forced, run_at) -> Resolution:
    """Person ids for the components of `out` (one row per node, in node order), kept from the previous map or
    new; the persons come back in node order, with their keys from `index`. The previous ids are handled as
    integer codes (their rows in `old_ids`, the distinct previous ids sorted, so codes sort as the ids do): a
    daily build groups and compares integers, not a string per identifier."""
    keys = index["key"]
    if registry is None:
        registry = pl.DataFrame(schema=REGISTRY_SCHEMA)
    registry = registry.select(*REGISTRY_SCHEMA).cast(REGISTRY_SCHEMA)  # type: ignore[arg-type]
    prev = (
        pl.DataFrame(schema={"node": pl.Int64, "prev_id": pl.String})
        if previous is None
        else previous.select("node", pl.col("person_id").alias("prev_id")).filter(pl.col("prev_id").is_not_null())
    )
    old_ids = prev["prev_id"].unique().sort()
    # each node's previous id, as a code, in node order (an identifier that left the graph has no node)
    placed = prev.filter(pl.col("node").is_not_null())
    codes = pl.DataFrame({"prev_id": old_ids, "prev": pl.int_range(old_ids.len(), dtype=pl.Int64, eager=True)})
    placed = placed.join(codes, on="prev_id").select("node", "prev")
    out = out.with_columns(
        prev=pl.Series(dtype=pl.Int64).extend_constant(None, out.height).scatter(placed["node"], placed["prev"])
    )
    del prev, placed
    if registry.is_empty() and old_ids.len():
        # a map from before the registry existed: its ids count as issued, known when they hold a strong identifier
        legacy = out.filter(pl.col("prev").is_not_null()).group_by("prev").agg(pl.col("strong").any().alias("known"))
        registry = (
            codes.join(legacy, on="prev", how="left")
            .rename({"prev_id": "person_id"})
            .select(
                "person_id", issued_at=pl.lit(datetime(1970, 1, 1)), known=pl.col("known").fill_null(False), anchor=None
            )
            .cast(REGISTRY_SCHEMA)
        )  # type: ignore[arg-type]
    issued = codes.join(
        registry.select(pl.col("person_id").alias("prev_id"), "issued_at", pl.col("known").alias("was_known")),
        on="prev_id",
        how="left",
    ).select("prev", "issued_at", "was_known")  # fmt: skip
    # whether each component is known, by component label (a label is a node number), and the labels of persons
    comp = out["comp"].to_numpy()
    known = np.zeros(out.height, bool)
    known[comp] = out["known"].to_numpy()
    present = np.zeros(out.height, bool)
    present[comp[~out["is_shared"].to_numpy()]] = True
    members = out.filter(~pl.col("is_shared") & pl.col("prev").is_not_null()).select("prev", "comp", "strong")
    # an old id goes to the component holding most of its strong identifiers, then most identifiers
    votes = (
        members.group_by("prev", "comp")
        .agg(pl.col("strong").sum().alias("strong_n"), pl.len().alias("n"))
        .sort(["prev", "strong_n", "n", "comp"], descending=[False, True, True, False])
        .unique("prev", keep="first")
        .join(issued, on="prev", how="left")
    )
    del members
    votes = (
        # a known person never takes a cookie-only id; the oldest eligible id survives, then the smallest
        votes.filter(~pl.Series(known[votes["comp"].to_numpy()]) | pl.col("was_known").fill_null(False))
        .sort(["comp", "issued_at", "prev"], nulls_last=False)
        .unique("comp", keep="first")
        .select("comp", "prev")
    )
    # a component's label is its smallest node number, so its anchor (smallest key) is that node's key
    labels = np.flatnonzero(present)
    comps = pl.DataFrame({"comp": labels, "known": known[labels]}, schema={"comp": pl.Int64, "known": pl.Boolean})
    comps = comps.join(votes, on="comp", how="left")
    comps = comps.with_columns(anchor=keys.gather(comps["comp"]))
    fresh = comps.filter(pl.col("prev").is_null())
    candidates = new_person_ids(fresh["anchor"]) if fresh.height else pl.Series([], dtype=pl.String)
    fresh = fresh.with_columns(
        new_id=pl.Series(_unique_ids(fresh["anchor"], candidates, registry["person_id"], old_ids))
    )
    comps = comps.join(fresh.select("comp", "new_id"), on="comp", how="left")
    comps = comps.with_columns(person_id=pl.coalesce(old_ids.gather(comps["prev"]), pl.col("new_id")))
    # each node takes its component's id (a shared value none), and the code of the old id it kept, in node order
    by_comp = pl.Series(dtype=pl.String).extend_constant(None, out.height).scatter(comps["comp"], comps["person_id"])
    kept = pl.Series(dtype=pl.Int64).extend_constant(None, out.height).scatter(comps["comp"], comps["prev"])
    persons = out.with_columns(
        person_id=pl.when(pl.col("is_shared")).then(None).otherwise(by_comp.gather(out["comp"])),
        kept=pl.when(pl.col("is_shared")).then(None).otherwise(kept.gather(out["comp"])),
    )
    new_registry = fresh.select(
        pl.col("new_id").alias("person_id"), issued_at=pl.lit(run_at), known=pl.col("known"), anchor=pl.col("anchor")
    ).cast(REGISTRY_SCHEMA)  # type: ignore[arg-type]
    registry = pl.concat([registry, new_registry])
    changes = _changes(persons, old_ids, comps["prev"], registry, never, forced, run_at)
    return Resolution(
        persons=pl.concat([index.select("key", "type"), persons], how="horizontal")
        .select(*MAP_SCHEMA)
        .cast(MAP_SCHEMA),  # type: ignore[arg-type]
        registry=registry,
        changes=changes,
        person_count=comps.height,
    )


SALTS = 4  # salted ids of a clashing anchor checked against every issued id at once, before it needs them


def _unique_ids(anchors: pl.Series, candidates: pl.Series, *issued_before: pl.Series) -> pl.Series:
    """The new ids, each salted ("#1", "#2"...) until it differs from every id issued before, to anyone. Only
    the ids a new person could take are looked up among the issued ones (all at once), so no set of every issued
    id is built: a daily build, where a cookie-only person that logs in keeps its anchor and so clashes with its
    old id, would otherwise hold millions of ids as Python strings."""
    old = pl.concat(issued_before)
    clash = candidates.is_in(old) | candidates.is_duplicated()
    if not clash.any():
        return candidates  # nothing to salt
    salted = [_salted_id(a, s) for a in anchors.filter(clash).to_list() for s in range(1, SALTS + 1)]
    looked_up = set(candidates.to_list()) | set(salted)
    issued = set(old.filter(old.is_in(pl.Series(list(looked_up), dtype=pl.String))).to_list())
    new_ids = []
    for anchor, candidate in zip(anchors.to_list(), candidates.to_list(), strict=True):
        salt = 0
        while candidate in issued or (candidate not in looked_up and old.is_in([candidate]).any()):
            salt += 1
            candidate = _salted_id(anchor, salt)
        issued.add(candidate)
        new_ids.append(candidate)
    return pl.Series(new_ids, dtype=pl.String)


def _changes(persons, old_ids, kept_codes, registry, never, forced, run_at) -> pl.DataFrame:
    """Every identifier that moved to another person this run, grouped as merges and splits with a reason.
    `persons` holds `prev` (the code of each node's previous id in `old_ids`) and `kept` (the code of the old id
    its person kept, null for a new id); `kept_codes` the codes kept by any person."""
    moved = persons.filter(
        pl.col("person_id").is_not_null()
        & pl.col("prev").is_not_null()
        & (pl.col("kept").is_null() | (pl.col("kept") != pl.col("prev")))
    )
    if moved.is_empty():
        return pl.DataFrame(schema=CHANGES_SCHEMA)
    moved = moved.with_columns(prev_id=old_ids.gather(moved["prev"]))
    alive = set(old_ids.gather(moved["prev"].unique().filter(moved["prev"].unique().is_in(kept_codes))).to_list())
    moved_ids = moved["prev_id"].unique()
    was_known = dict(registry.filter(pl.col("person_id").is_in(moved_ids)).select("person_id", "known").rows())
    override_nodes = {int(x) for pair in never + forced for x in pair}
    override_persons = set(persons.filter(pl.col("node").is_in(list(override_nodes)))["person_id"].drop_nulls())
    rows = []
    grouped = moved.group_by("prev_id", "person_id").agg(
        pl.len().alias("n"), pl.col("known").first(), pl.col("cut").any(), pl.col("node")
    )
    # the old person's members that are shared now
    shared_codes = persons.filter(pl.col("is_shared"))["prev"].drop_nulls().unique()
    went_shared = set(old_ids.gather(shared_codes).to_list())
    for prev_id, person_id, n, known, cut, moved_nodes in grouped.sort("prev_id", "person_id").rows():
        touched = bool(override_nodes & set(moved_nodes))
        if prev_id not in alive:
            change = "merge"
            if touched:
                why = "override: forced merge"
            elif known and not was_known.get(prev_id, False):
                why = "cookie-only person became known"
            else:
                why = "linked to an older person"
        else:
            change = "split"
            if touched or prev_id in override_persons:
                why = "override: never merge"
            elif cut:
                why = "weak link left out: conflicting strong identifiers or cluster size"
            elif prev_id in went_shared:
                why = "an identifier became shared"
            else:
                why = "link no longer seen"
        rows.append((run_at, change, prev_id, person_id, n, why))
    return pl.DataFrame(rows, schema=CHANGES_SCHEMA, orient="row")
