"""Identity resolution: identifiers joined by co-occurrence become persons.

The dbt project builds the identifier graph in SQL (normalization, junk and role-account blocks) and calls
`resolve` from a Python model; the benchmark and the tests call it directly. Nothing here imports Dagster.

- Guards against over-merging: an identifier linked to more distinct identifiers of one type than the cap
  for that type is shared (a household device, a company switchboard) and never bridges two persons; a
  component that grows past `max_cluster_size` is broken back into its strongly-linked parts.
- Person ids are stable: a component that contains identifiers seen before keeps the id they had; when
  two known persons merge, the older id survives; a new person's id is derived from its identifiers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

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


def _shared_nodes(edges: pl.DataFrame, config: IdentityConfig) -> pl.DataFrame:
    """Identifiers linked to more distinct identifiers of some type than its cap allows."""
    both = pl.concat(
        [
            edges.select(
                pl.col("a").alias("node"), pl.col("b").alias("other"), pl.col("b_type").alias("other_type")
            ),
            edges.select(
                pl.col("b").alias("node"), pl.col("a").alias("other"), pl.col("a_type").alias("other_type")
            ),
        ]
    )
    caps = pl.DataFrame(
        {"other_type": list(config.max_links_per_type), "cap": list(config.max_links_per_type.values())},
        schema={"other_type": pl.String, "cap": pl.Int64},
    )
    return (
        both.join(caps, on="other_type")
        .group_by("node", "other_type", "cap")
        .agg(pl.col("other").n_unique().alias("links"))
        .filter(pl.col("links") > pl.col("cap"))
        .select("node")
        .unique()
    )


def _new_id(key: str) -> str:
    return "p_" + hashlib.sha1(key.encode()).hexdigest()[:16]


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
    Returns one row per node: key, person_id (null for shared identifiers), is_shared, cluster_size.
    """
    config = config or IdentityConfig()
    nodes = nodes.select("key", "type").unique("key", keep="first").sort("key")
    typed = (
        edges.select("a", "b")
        .join(nodes.rename({"key": "a", "type": "a_type"}), on="a")
        .join(nodes.rename({"key": "b", "type": "b_type"}), on="b")
        .filter(pl.col("a") != pl.col("b"))
    )
    shared = _shared_nodes(typed, config)
    usable = typed.join(shared.rename({"node": "a"}), on="a", how="anti").join(
        shared.rename({"node": "b"}), on="b", how="anti"
    )
    index = nodes.with_row_index("idx").select("key", "type", pl.col("idx").cast(pl.Int64))
    coded = usable.join(index.select(pl.col("key").alias("a"), pl.col("idx").alias("ia")), on="a").join(
        index.select(pl.col("key").alias("b"), pl.col("idx").alias("ib")), on="b"
    )
    n = index.height
    labels = connected_components(coded["ia"].to_numpy(), coded["ib"].to_numpy(), n)
    out = index.with_columns(component=pl.Series(labels, dtype=pl.Int64))
    out = out.with_columns(cluster_size=pl.len().over("component"))
    oversized = out.filter(pl.col("cluster_size") > config.max_cluster_size)
    if oversized.height:
        # break oversized components: drop weak links (cookies, devices) inside them and recompute
        big = set(oversized["component"].to_list())
        strong = coded.join(
            index.select(pl.col("idx").alias("ia"), pl.col("type").alias("ta")), on="ia"
        ).join(index.select(pl.col("idx").alias("ib"), pl.col("type").alias("tb")), on="ib")
        lab = pl.Series(labels)
        strong = strong.filter(
            ~(lab.gather(strong["ia"]).is_in(list(big)))
            | (~pl.col("ta").is_in(WEAK_TYPES) & ~pl.col("tb").is_in(WEAK_TYPES))
        )
        labels = connected_components(strong["ia"].to_numpy(), strong["ib"].to_numpy(), n)
        out = index.with_columns(component=pl.Series(labels, dtype=pl.Int64))
        out = out.with_columns(cluster_size=pl.len().over("component"))
    out = out.with_columns(is_shared=pl.col("key").is_in(shared["node"].implode()))
    return _assign_ids(out, previous)


def _assign_ids(out: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Give every component a person id, keeping the ids of earlier runs."""
    comp_anchor = out.group_by("component").agg(pl.col("key").min().alias("anchor"))
    if previous is not None and previous.height:
        prev = previous.select("key", pl.col("person_id").alias("prev_id")).filter(
            pl.col("prev_id").is_not_null()
        )
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
        person_id=pl.coalesce("prev_id", pl.col("anchor").map_elements(_new_id, return_dtype=pl.String))
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


def warehouse_accuracy(con) -> PairScores:
    """Pairwise precision/recall of the warehouse's identity graph against the generator's ground truth."""
    predicted = con.sql(
        "select identifier_type || ':' || identifier_value as key, person_id as cluster "
        "from main.int_identity__identifiers where person_id is not null"
    ).pl()
    truth = con.sql(
        "select identifier_type || ':' || identifier_value as key, person_key as cluster from truth.identifiers"
    ).pl()
    return pairwise_scores(predicted, truth)
