import networkx as nx
import numpy as np
import polars as pl

from outflow.identity import IdentityConfig, connected_components, pairwise_scores, resolve, shared_mask


def _nodes(*keys):
    return pl.DataFrame({"key": list(keys), "type": [k.split(":")[0] for k in keys]})


def _edges(*pairs):
    return pl.DataFrame(
        {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}, schema={"a": pl.String, "b": pl.String}
    )


def test_components_match_networkx_on_random_graphs():
    rng = np.random.default_rng(0)
    for n, m in ((50, 30), (1000, 900), (5000, 8000)):
        src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
        labels = connected_components(src, dst, n)
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(zip(src.tolist(), dst.tolist(), strict=False))
        expected = np.empty(n, dtype=np.int64)
        for comp in nx.connected_components(graph):
            expected[list(comp)] = min(comp)
        assert np.array_equal(labels, expected)


def test_household_device_does_not_merge_two_people():
    nodes = _nodes("cookie:shared", "user_id:ann", "user_id:bob", "email:ann@x.com", "email:bob@y.com")
    edges = _edges(
        ("cookie:shared", "user_id:ann"), ("cookie:shared", "user_id:bob"),
        ("email:ann@x.com", "user_id:ann"), ("email:bob@y.com", "user_id:bob"),
    )  # fmt: skip
    out = resolve(nodes, edges)
    ids = dict(zip(out["key"], out["person_id"], strict=False))
    assert ids["cookie:shared"] is None
    assert ids["user_id:ann"] == ids["email:ann@x.com"] != ids["user_id:bob"] == ids["email:bob@y.com"]


def test_cap_per_type_is_configurable():
    nodes = _nodes("email:team@x.com", "crm_id:1", "crm_id:2")
    edges = _edges(("email:team@x.com", "crm_id:1"), ("email:team@x.com", "crm_id:2"))
    merged = resolve(nodes, edges, config=IdentityConfig(max_links_per_type={"crm_id": 3}))
    assert merged["person_id"].n_unique() == 1
    split = resolve(nodes, edges, config=IdentityConfig(max_links_per_type={"crm_id": 1}))
    assert split.filter(pl.col("key") == "email:team@x.com")["is_shared"].item()
    assert split.filter(pl.col("person_id").is_not_null())["person_id"].n_unique() == 2


def test_oversized_cluster_loses_its_weak_links():
    keys = ["user_id:a", "user_id:b"] + [f"cookie:{i}" for i in range(6)]
    edges = [("user_id:a", f"cookie:{i}") for i in range(3)] + [("user_id:b", f"cookie:{i}") for i in range(3, 6)]
    edges.append(("cookie:2", "cookie:3"))  # a chain of devices joins a and b
    out = resolve(_nodes(*keys), _edges(*edges), config=IdentityConfig(max_cluster_size=5))
    ids = dict(zip(out["key"], out["person_id"], strict=False))
    assert ids["user_id:a"] != ids["user_id:b"]
    assert out["cluster_size"].max() <= 5


def test_person_id_is_stable_when_identifiers_join_merge_and_split():
    nodes = _nodes("email:m@x.com", "user_id:u1", "email:n@x.com", "user_id:u2")
    edges = _edges(("email:m@x.com", "user_id:u1"), ("email:n@x.com", "user_id:u2"))
    first = resolve(nodes, edges)
    ids = dict(zip(first["key"], first["person_id"], strict=False))
    # a new identifier that sorts before every other one joins the first person: the id stays
    nodes2 = pl.concat([nodes, _nodes("email:0000first@x.com")])
    edges2 = pl.concat([edges, _edges(("email:0000first@x.com", "user_id:u1"))])
    second = resolve(nodes2, edges2, previous=first)
    ids2 = dict(zip(second["key"], second["person_id"], strict=False))
    assert ids2["email:0000first@x.com"] == ids2["user_id:u1"] == ids["user_id:u1"]
    # the two persons merge: one of the old ids survives for everyone
    merged = resolve(nodes2, pl.concat([edges2, _edges(("user_id:u1", "user_id:u2"))]), previous=second)
    assert merged["person_id"].n_unique() == 1
    assert merged["person_id"][0] in {ids["user_id:u1"], ids["user_id:u2"]}
    # and split again: each old id goes back to the component holding most of its identifiers
    split = resolve(nodes, edges, previous=first)
    assert dict(zip(split["key"], split["person_id"], strict=False)) == ids


def test_ids_are_deterministic_from_scratch():
    nodes = _nodes("email:a@x.com", "user_id:u")
    edges = _edges(("email:a@x.com", "user_id:u"))
    assert resolve(nodes, edges)["person_id"].to_list() == resolve(nodes, edges)["person_id"].to_list()


def test_pairwise_scores():
    truth = pl.DataFrame({"key": list("abcd"), "cluster": ["x", "x", "x", "y"]})
    perfect = pairwise_scores(truth, truth)
    assert (perfect.precision, perfect.recall) == (1.0, 1.0)
    split = pl.DataFrame({"key": list("abcd"), "cluster": ["1", "1", "2", "3"]})
    s = pairwise_scores(split, truth)
    assert s.precision == 1.0 and abs(s.recall - 1 / 3) < 1e-9
    over = pl.DataFrame({"key": list("abcd"), "cluster": ["1", "1", "1", "1"]})
    o = pairwise_scores(over, truth)
    assert o.recall == 1.0 and abs(o.precision - 3 / 6) < 1e-9


def test_shared_mask_on_distinct_pairs_counts_as_on_repeated_edges():
    """Edges given once per pair (distinct=True, no sort) share the same nodes as the same edges repeated and
    reversed, whose distinct neighbours must be counted."""
    rng = np.random.default_rng(3)
    n = 60
    src, dst = rng.integers(0, n, 70), rng.integers(0, n, 70)
    keep = src != dst
    src, dst = np.r_[src[keep], src[keep][:20]], np.r_[dst[keep], dst[keep][:20]]  # some edges seen twice
    types = rng.integers(0, 3, n)
    caps = np.array([1, 2, -1])
    pair = np.unique(np.minimum(src, dst) * n + np.maximum(src, dst))
    ia, ib = pair // n, pair % n
    repeated = shared_mask(np.r_[src, dst], np.r_[dst, src], types[np.r_[src, dst]], types[np.r_[dst, src]], n, caps)
    once = shared_mask(ia, ib, types[ia], types[ib], n, caps, distinct=True)
    assert repeated.any() and not repeated.all()
    assert np.array_equal(once, repeated)


def test_shared_mask_counts_each_type_of_neighbour_against_its_cap():
    """A node is shared exactly when its distinct neighbours of some capped type outnumber that type's cap (counted
    here with sets, one node at a time), on distinct pairs and on repeated, reversed edges; an uncapped type (-1)
    never shares, however many neighbours of it a node has."""
    rng = np.random.default_rng(11)
    n = 80
    src, dst = rng.integers(0, n, 160), rng.integers(0, n, 160)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    types = rng.integers(0, 4, n)
    caps = np.array([2, -1, 1, 3])
    neighbours = [[set() for _ in caps] for _ in range(n)]
    for x, y in zip(src.tolist(), dst.tolist(), strict=True):
        neighbours[x][types[y]].add(y)
        neighbours[y][types[x]].add(x)
    expected = np.array(
        [any(cap >= 0 and len(s) > cap for s, cap in zip(row, caps, strict=True)) for row in neighbours]
    )
    pair = np.unique(np.minimum(src, dst) * n + np.maximum(src, dst))
    ia, ib = pair // n, pair % n
    assert expected.any() and not expected.all()
    assert np.array_equal(shared_mask(ia, ib, types[ia], types[ib], n, caps, distinct=True), expected)
    both = np.r_[src, dst, src[:30]], np.r_[dst, src, dst[:30]]
    assert np.array_equal(shared_mask(*both, types[both[0]], types[both[1]], n, caps), expected)
    # the uncapped type alone: many neighbours of type 1, none shared
    hub = np.zeros(5, np.int64)
    spokes = np.arange(1, 6)
    assert not shared_mask(hub, spokes, np.ones(5, np.int64), np.ones(5, np.int64), 6, caps, distinct=True).any()
