"""Identity resolution: identifiers joined by co-occurrence become persons.

The dbt project builds the identifier graph in SQL (normalization, junk and role-account blocks); the identity
step between dbt models (outflow/person_map.py), the benchmark and the tests call `resolve`. Nothing here imports
Dagster.

- Guards against over-merging: an identifier linked to more distinct identifiers of one type than the cap
  for that type is shared (a household device, a company switchboard) and never bridges two persons; a
  component that grows past `max_cluster_size` is broken back into its strongly-linked parts.
- Person ids are stable: a component that contains identifiers seen before keeps the id they had; when
  two known persons merge, the older id survives; a new person's id is derived from its identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from outflow.warehouse import Warehouse, connect

WEAK_TYPES = ("cookie", "device")


@dataclass(frozen=True)
class IdentityConfig:
    # an identifier linked to more than this many distinct identifiers of the type is shared
    max_links_per_type: dict[str, int] = field(
        default_factory=lambda: {"user_id": 1, "crm_id": 3, "email": 2, "phone": 2}
    )
    max_cluster_size: int = 200


def connected_components(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Label every node 0..n-1 with the smallest node index of its component.

    Vectorised hook-and-shortcut: each round hooks the larger root of every cross edge under the smaller
    one, then jumps pointers to the roots and keeps only the edges that still join two components.
    """
    parent = np.arange(n, dtype=np.int64)
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    while src.size:
        lo = np.minimum(src, dst)
        hi = np.maximum(src, dst)
        np.minimum.at(parent, hi, lo)
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        src, dst = parent[src], parent[dst]
        keep = src != dst
        src, dst = src[keep], dst[keep]
    return parent


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. (np.unique is many times slower than sort + diff on large int arrays.)"""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def shared_mask(
    ia: np.ndarray, ib: np.ndarray, ta: np.ndarray, tb: np.ndarray, n: int, caps: np.ndarray, distinct: bool = False
) -> np.ndarray:
    """True for nodes linked to more distinct nodes of some type than that type's cap.

    ia/ib: integer node ids of the edges' ends; ta/tb: their type codes; caps[type_code]: the cap (-1: none).
    distinct: the edges are already distinct pairs of distinct nodes (each pair once, either way), so they need
    no sort to count distinct neighbours.
    """
    node = np.concatenate([ia, ib]).astype(np.int64)
    other_type = np.concatenate([tb, ta]).astype(np.int64)
    if not distinct:  # distinct (node, other) pairs first; the other end's type is a function of `other`
        other = np.concatenate([ib, ia]).astype(np.int64)
        capped = caps[other_type] >= 0
        pair = _distinct(node[capped] * n + other[capped])
        type_of = np.zeros(n, dtype=np.int64)
        type_of[node] = np.concatenate([ta, tb])
        node, other_type = pair // n, type_of[pair % n]
    # a node's neighbours of a type, counted one type at a time (a count per node and type would hold n times the
    # types)
    shared = np.zeros(n, bool)
    for t in np.flatnonzero(caps >= 0):
        shared |= np.bincount(node[other_type == t], minlength=n) > caps[t]
    return shared


def new_person_ids(anchors: pl.Series) -> pl.Series:
    """A new person's id: "p_" + the first 16 hex digits of the md5 of its smallest identifier key.

    md5 (vectorised, in an in-memory DuckDB warehouse) is the same on every version and platform, so a rebuild
    from scratch gives the same ids.
    """
    with connect(":memory:") as mem:
        mem.write_arrow("anchors", pl.DataFrame({"anchor": anchors}), mode="create", temporary=True)
        return mem.fetch_polars("select 'p_' || left(md5(anchor), 16) as person_id from anchors").to_series()


@dataclass
class CodedGraph:
    """The identifier graph with integer node ids (row order of `index`) and the guard applied."""

    index: pl.DataFrame  # key, type, idx, tc (type code)
    type_names: list[str]
    ia: np.ndarray  # usable edges: both ends unshared
    ib: np.ndarray
    ta: np.ndarray
    tb: np.ndarray
    shared: np.ndarray  # bool per node


def prepare_graph(nodes: pl.DataFrame, edges: pl.DataFrame, config: IdentityConfig) -> CodedGraph:
    """Code keys as integers once and mark shared identifiers; everything after works on arrays."""
    index = nodes.select("key", "type").unique("key", keep="first", maintain_order=True).with_row_index("idx")
    type_names = index["type"].unique().sort().to_list()
    type_code = {t: i for i, t in enumerate(type_names)}
    caps = np.array([config.max_links_per_type.get(t, -1) for t in type_names], dtype=np.int64)
    index = index.with_columns(
        pl.col("idx").cast(pl.Int64), tc=pl.col("type").replace_strict(type_code, return_dtype=pl.Int64)
    )
    ends = index.select("key", "idx")
    coded = (
        edges.select("a", "b")
        .join(ends.rename({"key": "a", "idx": "ia"}), on="a")
        .join(ends.rename({"key": "b", "idx": "ib"}), on="b")
        .filter(pl.col("ia") != pl.col("ib"))
    )
    ia, ib = coded["ia"].to_numpy(), coded["ib"].to_numpy()
    type_codes = index["tc"].to_numpy()
    ta, tb = type_codes[ia], type_codes[ib]
    shared = shared_mask(ia, ib, ta, tb, index.height, caps)
    usable = ~shared[ia] & ~shared[ib]
    return CodedGraph(index, type_names, ia[usable], ib[usable], ta[usable], tb[usable], shared)


def resolve(
    nodes: pl.DataFrame,
    edges: pl.DataFrame,
    previous: pl.DataFrame | None = None,
    config: IdentityConfig | None = None,
) -> pl.DataFrame:
    """Group identifiers into persons.

    nodes: `key` (e.g. "email:ann@x.com"), `type`.
    edges: `a`, `b` (node keys that co-occurred in one record).
    previous: the last run's `key`, `person_id` (for stable ids), or None.
    Returns one row per node: key, type, person_id (null for shared identifiers), is_shared, cluster_size.
    """
    config = config or IdentityConfig()
    g = prepare_graph(nodes, edges, config)
    n = g.index.height
    labels = connected_components(g.ia, g.ib, n)
    sizes = np.bincount(labels, minlength=n)
    if (sizes > config.max_cluster_size).any():
        # break oversized components: drop weak links (cookies, devices) inside them and recompute
        weak = np.isin(np.array(g.type_names), WEAK_TYPES)
        inside = sizes[labels[g.ia]] > config.max_cluster_size
        keep = ~(inside & (weak[g.ta] | weak[g.tb]))
        labels = connected_components(g.ia[keep], g.ib[keep], n)
        sizes = np.bincount(labels, minlength=n)
    out = g.index.select("key", "type").with_columns(
        component=pl.Series(labels),
        cluster_size=pl.Series(sizes[labels]),
        is_shared=pl.Series(g.shared),
    )
    return _assign_ids(out, previous)


def _assign_ids(out: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Give every component a person id, keeping the ids of earlier runs."""
    # the smallest key per component (DuckDB's string min aggregates in parallel, far faster here)
    with connect(":memory:") as mem:
        mem.write_arrow("keys", out.select("component", "key"), mode="create", temporary=True)
        comp_anchor = mem.fetch_polars("select component, min(key) as anchor from keys group by component")
    if previous is not None and previous.height:
        prev = previous.select("key", pl.col("person_id").alias("prev_id")).filter(pl.col("prev_id").is_not_null())
        votes = (
            out.join(prev, on="key")
            .group_by("component", "prev_id")
            .agg(pl.len().alias("members"))
            # an old id goes to the component holding most of its identifiers (ties: lowest component)
            .sort(["prev_id", "members", "component"], descending=[False, True, False])
            .unique("prev_id", keep="first")
            # a component holding several old ids (a merge) keeps the smallest, i.e. oldest-sorted, one
            .sort(["component", "prev_id"])
            .unique("component", keep="first")
            .select("component", "prev_id")
        )
        comp_anchor = comp_anchor.join(votes, on="component", how="left")
    else:
        comp_anchor = comp_anchor.with_columns(prev_id=pl.lit(None, dtype=pl.String))
    comp_anchor = comp_anchor.with_columns(
        person_id=pl.coalesce(pl.col("prev_id"), new_person_ids(comp_anchor["anchor"]))
    )
    return (
        out.join(comp_anchor.select("component", "person_id"), on="component")
        .with_columns(person_id=pl.when(pl.col("is_shared")).then(None).otherwise(pl.col("person_id")))
        .select("key", "type", "person_id", "is_shared", pl.col("cluster_size").cast(pl.Int64))
    )


@dataclass(frozen=True)
class PairScores:
    precision: float
    recall: float
    identifiers: int
    true_pairs: int
    predicted_pairs: int


def pairwise_scores(predicted: pl.DataFrame, truth: pl.DataFrame) -> PairScores:
    """Pairwise precision and recall of person clusters over the identifiers both sides know.

    predicted: key, cluster; truth: key, cluster. Pairs are counted with n*(n-1)/2 per cluster.
    """
    joined = predicted.select("key", pl.col("cluster").alias("p")).join(
        truth.select("key", pl.col("cluster").alias("t")), on="key"
    )
    pairs = lambda col: (pl.col(col) * (pl.col(col) - 1) // 2).sum()  # noqa: E731
    both = joined.group_by("p", "t").len().select(pairs("len")).item()
    pred = joined.group_by("p").len().select(pairs("len")).item()
    true = joined.group_by("t").len().select(pairs("len")).item()
    return PairScores(
        precision=both / pred if pred else 1.0,
        recall=both / true if true else 1.0,
        identifiers=joined.height,
        true_pairs=int(true or 0),
        predicted_pairs=int(pred or 0),
    )


def warehouse_accuracy(con: Warehouse) -> PairScores:
    """Pairwise precision/recall of the warehouse's identity graph against the generator's ground truth."""
    predicted = con.fetch_polars(
        "select identifier_type || ':' || identifier_value as key, person_id as cluster "
        "from main.int_identity__identifiers where person_id is not null"
    )
    truth = con.fetch_polars(
        "select identifier_type || ':' || identifier_value as key, person_key as cluster from truth.identifiers"
    )
    return pairwise_scores(predicted, truth)
