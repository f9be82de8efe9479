"""Identity resolution at 100k, 1M and 10M identifiers (~1.4 edges per identifier): wall time and peak memory.

Outflow's `resolve` runs end to end (string keys → guards → components → stable person ids) beside the
peers on the same edges: scipy's connected_components, and networkx at the small size. The benchmark
checks that all of them find the same clusters. Each measurement runs in its own process so its peak
memory (max RSS) is its own.

    .venv/bin/python bench/identity_resolution.py                 # 100k, 1M, 10M
    .venv/bin/python bench/identity_resolution.py --sizes 100000  # one size
    .venv/bin/python bench/identity_resolution.py --demo          # also time `outflow demo` at the default size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

TYPES = np.array(["email", "phone", "crm_id", "user_id", "cookie"])
EDGES_PER_ID = 1.4


def make_graph(n_ids: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Persons of 1-8 identifiers; a spanning tree per person plus repeated links up to ~1.4 edges/id;
    0.5% of cookies shared between two persons (households), which the guard must catch."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(0.3, n_ids), 8)
    sizes = sizes[np.cumsum(sizes) <= n_ids]
    sizes = np.append(sizes, n_ids - sizes.sum()) if sizes.sum() < n_ids else sizes
    person = np.repeat(np.arange(len(sizes)), sizes)
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    ids = np.arange(n_ids)
    pos = ids - start
    # identifier types: the first of a person is a user_id, later ones cycle through the types
    types = np.where(pos == 0, "user_id", TYPES[(ids * 7 + pos) % 5])
    types = np.where((pos > 0) & (types == "user_id"), "email", types)
    tree = pos > 0
    src = [ids[tree]]
    dst = [start[tree] + rng.integers(0, np.maximum(pos[tree], 1))]
    extra = int((EDGES_PER_ID * n_ids - int(tree.sum())) * 1.5)  # some picks land on themselves and drop
    pick = rng.integers(0, n_ids, extra)
    src.append(pick)
    dst.append(start[pick] + rng.integers(0, sizes[person[pick]]))
    # households: a cookie of one person also seen with the user_id of another
    cookies = ids[types == "cookie"]
    shared = rng.choice(cookies, size=max(1, len(cookies) // 200), replace=False)
    other = rng.integers(0, n_ids, len(shared))
    src.append(shared)
    dst.append(start[other])
    src, dst = np.concatenate(src), np.concatenate(dst)
    keep = src != dst
    keys = pl.Series("key", ids).cast(pl.String)
    key = pl.select(pl.concat_str(pl.Series(types), pl.lit(":"), keys)).to_series()
    nodes = pl.DataFrame({"key": key, "type": types})
    edges = pl.DataFrame({"a": key.gather(src[keep]), "b": key.gather(dst[keep])})
    return nodes, edges


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Relabel each component by its smallest member, so partitions can be compared."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    boundaries = np.flatnonzero(np.diff(sorted_labels)) + 1
    firsts = np.minimum.reduceat(order, np.r_[0, boundaries])
    comp_index = np.cumsum(np.r_[0, np.diff(sorted_labels) != 0])
    out = np.empty_like(labels)
    out[order] = firsts[comp_index]
    return out


def run_one(method: str, n_ids: int, out: Path) -> None:
    nodes, edges = make_graph(n_ids)
    result: dict = {"method": method, "identifiers": n_ids, "edges": edges.height}
    if method == "outflow":
        from outflow.identity import resolve

        t = time.perf_counter()
        resolved = resolve(nodes, edges)
        result["seconds"] = time.perf_counter() - t
        result["persons"] = resolved["person_id"].n_unique()
        result["shared"] = int(resolved["is_shared"].sum())
        labelled = resolved.select("key", pl.col("person_id").alias("label"))
    else:
        from outflow.identity import IdentityConfig, prepare_graph

        # the peers get the same usable edges: the guard is applied beforehand and not timed
        g = prepare_graph(nodes, edges, IdentityConfig())
        src, dst, n = g.ia, g.ib, g.index.height
        t = time.perf_counter()
        if method == "scipy":
            from scipy.sparse import coo_matrix
            from scipy.sparse.csgraph import connected_components as scc

            graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
            _, labels = scc(graph, directed=False)
        else:
            import networkx as nx

            graph = nx.Graph()
            graph.add_nodes_from(range(n))
            graph.add_edges_from(zip(src.tolist(), dst.tolist(), strict=False))
            labels = np.empty(n, dtype=np.int64)
            for i, comp in enumerate(nx.connected_components(graph)):
                labels[list(comp)] = i
        result["seconds"] = time.perf_counter() - t
        result["note"] = "components only (guard applied beforehand, not timed)"
        labels = pl.Series(labels.astype(np.int64)).cast(pl.String)
        labelled = g.index.select("key").with_columns(label=pl.when(pl.Series(g.shared)).then(None).otherwise(labels))
    if n_ids <= 2_000_000:  # cluster labels in key order; shared identifiers are singletons
        ranked = (
            labelled.sort("key")
            .with_row_index("i")
            .select(
                pl.when(pl.col("label").is_null())
                .then(-1 - pl.col("i").cast(pl.Int64))
                .otherwise(pl.col("label").rank("dense").cast(pl.Int64))
            )
        )
        np.save(out.with_suffix(".npy"), _canonical(ranked.to_series().to_numpy()))
    result["peak_mb"] = _peak_mb()
    out.write_text(json.dumps(result))


def time_demo() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OUTFLOW_WAREHOUSE": f"{tmp}/w.duckdb", "OUTFLOW_DATA_DIR": f"{tmp}/data"}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from outflow.cli import run; run()", "demo"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--demo", action="store_true", help="also time `outflow demo` at the default size")
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "N", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one[0], int(args.one[1]), Path(args.one[2]))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            methods = ["outflow", "scipy"] + (["networkx"] if n <= 100_000 else [])
            for method in methods:
                out = Path(tmp) / f"{method}-{n}.json"
                subprocess.run([sys.executable, __file__, "--one", method, str(n), str(out)], check=True)
                rows.append(json.loads(out.read_text()))
            same = ""
            if n <= 2_000_000:
                ours = np.load(Path(tmp) / f"outflow-{n}.npy")
                same = all(np.array_equal(ours, np.load(Path(tmp) / f"{m}-{n}.npy")) for m in methods[1:])
                same = "yes" if same else "NO"
            rows[-1]["same_clusters"] = same
    print(f"{'identifiers':>12} {'edges':>11} {'method':>9} {'seconds':>8} {'peak MB':>8}  notes")
    for r in rows:
        notes = r.get("note", "end to end: keys → guard → components → person ids")
        if r.get("same_clusters"):
            notes += f"; same clusters as outflow: {r['same_clusters']}"
        print(
            f"{r['identifiers']:>12,} {r['edges']:>11,} {r['method']:>9} {r['seconds']:>8.2f} "
            f"{r['peak_mb']:>8.0f}  {notes}"
        )
    big = [r for r in rows if r["method"] == "outflow" and r["identifiers"] >= 10_000_000]
    if big:
        print(
            f"goal: 10M identifiers end to end in <= 30 s: "
            f"{'met' if big[0]['seconds'] <= 30 else 'NOT met'} ({big[0]['seconds']:.1f} s)"
        )
    if args.demo:
        print(f"make demo at the default size (2,000 people): {time_demo():.1f} s wall")


if __name__ == "__main__":
    main()
