"""The conflict-aware resolver: shared values, conflicts, the size guard, overrides and stable, unique ids."""

from datetime import datetime

import polars as pl

from outflow.identity import new_person_ids
from outflow.identity_graph import GraphConfig, Override, _salted_id, coded_edges, resolve_coded, resolve_graph

DAY1, DAY2, DAY3 = datetime(2026, 1, 1), datetime(2026, 1, 2), datetime(2026, 1, 3)


def _graph(*edges):
    """Edges as (a, b) or (a, b, records); the nodes are their ends."""
    rows = [(e[0], e[1], e[2] if len(e) > 2 else 1) for e in edges]
    keys = sorted({k for a, b, _ in rows for k in (a, b)})
    nodes = pl.DataFrame({"key": keys, "type": [k.split(":")[0] for k in keys]})
    return nodes, pl.DataFrame(rows, schema=["a", "b", "records"], orient="row")


def _ids(result):
    return dict(result.persons.select("key", "person_id").rows())


def _run(*edges, config=None, overrides=(), before=None, run_at=DAY1):
    nodes, frame = _graph(*edges)
    previous = None if before is None else before.persons.select("key", "person_id")
    registry = None if before is None else before.registry
    return resolve_graph(nodes, frame, previous, registry, list(overrides), config or GraphConfig(), run_at)


def test_a_cookie_never_joins_two_people_with_their_own_emails():
    # one member logged in on the household cookie many times, another typed her email into a form once
    out = _run(
        ("cookie:home", "user_id:ann", 9), ("email:ann@x.com", "user_id:ann", 3),
        ("cookie:home", "email:bea@y.com", 1), ("crm_id:2", "email:bea@y.com"),
    )  # fmt: skip
    ids = _ids(out)
    assert ids["cookie:home"] == ids["user_id:ann"] == ids["email:ann@x.com"]
    assert ids["email:bea@y.com"] == ids["crm_id:2"] != ids["user_id:ann"]


def test_a_shared_landline_never_joins_two_crm_contacts_but_a_bare_duplicate_joins():
    out = _run(
        ("crm_id:1", "email:ann@x.com"), ("crm_id:1", "phone:+441234"),
        ("crm_id:2", "email:bob@x.com"), ("crm_id:2", "phone:+441234"),
        ("crm_id:3", "email:cat@x.com"), ("crm_id:3", "phone:+449999"),
        ("crm_id:3-dup", "phone:+449999"),  # a duplicate contact with no email of its own
    )  # fmt: skip
    ids = _ids(out)
    assert ids["crm_id:1"] != ids["crm_id:2"]
    assert ids["phone:+441234"] in {ids["crm_id:1"], ids["crm_id:2"]}
    assert ids["crm_id:3"] == ids["crm_id:3-dup"]


def test_weak_links_join_groups_without_a_conflict():
    out = _run(("cookie:c", "user_id:u"), ("cookie:c", "email:ann@x.com"))
    assert len(set(_ids(out).values())) == 1


def test_household_device_by_total_degree_across_types():
    # one identifier of each type: no per-type cap is passed, the total is
    out = _run(("cookie:tv", "user_id:u1"), ("cookie:tv", "email:a@x.com"), ("cookie:tv", "phone:+1555"))
    row = out.persons.filter(pl.col("key") == "cookie:tv").row(0, named=True)
    assert row["is_shared"] and row["person_id"] is None and row["shared_reason"] == "shared: linked to 3 identifiers"
    allowed = _run(
        ("cookie:tv", "user_id:u1"), ("cookie:tv", "email:a@x.com"), ("cookie:tv", "phone:+1555"),
        config=GraphConfig(max_weak_links=3),
    )  # fmt: skip
    assert not allowed.persons.filter(pl.col("key") == "cookie:tv")["is_shared"].item()


def test_a_value_seen_with_too_many_persons_is_shared_for_every_type():
    edges = [(f"email:p{i}@x.com", f"crm_id:{i}") for i in range(3)]
    edges += [(f"crm_id:{i}", "phone:+1800") for i in range(3)]
    out = _run(*edges, config=GraphConfig(max_links_per_type={}, max_persons=2))
    row = out.persons.filter(pl.col("key") == "phone:+1800").row(0, named=True)
    assert row["is_shared"] and row["shared_reason"] == "shared: seen with 3 persons"
    assert out.persons["person_id"].drop_nulls().n_unique() == 3


def test_a_user_id_typed_by_many_visitors_is_shared():
    # each visitor's cookie carries the junk user id and the visitor's own email
    edges = [(f"cookie:{i}", "user_id:test123") for i in range(3)]
    edges += [(f"cookie:{i}", f"email:v{i}@x.com") for i in range(3)]
    out = _run(*edges)
    row = out.persons.filter(pl.col("key") == "user_id:test123").row(0, named=True)
    assert row["is_shared"] and row["shared_reason"] == "shared: seen with 4 persons"
    ids = _ids(out)
    assert len({ids[f"email:v{i}@x.com"] for i in range(3)}) == 3
    assert all(ids[f"cookie:{i}"] == ids[f"email:v{i}@x.com"] for i in range(3))


def test_size_guard_cuts_the_links_that_grow_a_person_not_every_weak_link():
    # one person with 31 cookies, and one more cookie that would chain a second person onto them
    edges = [("user_id:a", f"cookie:{i:02d}", 2) for i in range(31)]
    edges += [("user_id:b", "email:b@x.com"), ("cookie:30", "email:b@x.com", 1)]
    out = _run(*edges, config=GraphConfig(max_links_per_type={}, max_weak_links=5, max_cluster_size=32))
    ids = _ids(out)
    assert {ids[f"cookie:{i:02d}"] for i in range(31)} == {ids["user_id:a"]}
    assert ids["user_id:b"] == ids["email:b@x.com"] != ids["user_id:a"]


def test_overrides_win_over_every_rule():
    edges = [("crm_id:1", "email:ann@x.com"), ("crm_id:1", "phone:+1555"), ("email:bob@x.com", "crm_id:2")]
    merged = _run(*edges, overrides=[Override("merge", "email:ann@x.com", "email:bob@x.com")])
    assert len(set(_ids(merged).values())) == 1
    # a never-merge pair stays apart even when one record holds both
    apart = _run(*edges, overrides=[Override("never_merge", "crm_id:1", "email:ann@x.com")])
    ids = _ids(apart)
    assert ids["crm_id:1"] != ids["email:ann@x.com"]
    # and wins over a forced merge that contradicts it
    both = _run(
        *edges,
        overrides=[
            Override("merge", "email:ann@x.com", "email:bob@x.com"),
            Override("never_merge", "crm_id:1", "crm_id:2"),
        ],
    )
    ids = _ids(both)
    assert ids["crm_id:1"] != ids["crm_id:2"]


def test_identical_inputs_give_identical_ids_whatever_the_row_order():
    edges = [("cookie:c", "user_id:u", 2), ("cookie:c", "email:a@x.com", 2), ("email:b@x.com", "cookie:c", 2)]
    config = GraphConfig(max_weak_links=5, max_persons=5)
    first = _run(*edges, config=config)
    again = _run(*reversed(edges), config=config)
    assert first.persons.equals(again.persons)
    # the tie (two emails seen as often with the cookie) breaks the same way, by key
    assert _ids(first)["cookie:c"] == _ids(first)["email:a@x.com"]


def test_the_older_known_person_keeps_its_id_and_never_a_cookie_only_one():
    day1 = _run(("cookie:c", "cookie:d"), ("email:ann@x.com", "crm_id:1"), run_at=DAY1)
    cookie_only, known = _ids(day1)["cookie:c"], _ids(day1)["crm_id:1"]
    # day 2: the cookie logs in as the known person; the cookie-only id is retired
    day2 = _run(("cookie:c", "cookie:d"), ("email:ann@x.com", "crm_id:1"), ("cookie:c", "email:ann@x.com"),
                before=day1, run_at=DAY2)  # fmt: skip
    assert set(_ids(day2).values()) == {known}
    change = day2.changes.row(0, named=True)
    assert (change["change"], change["from_person_id"], change["to_person_id"]) == ("merge", cookie_only, known)
    # a cookie-only person that becomes known takes a new id, never its cookie-only one
    day3 = _run(("cookie:x", "cookie:y"), run_at=DAY1)
    known_now = _run(("cookie:x", "cookie:y"), ("cookie:x", "user_id:u"), before=day3, run_at=DAY2)
    assert _ids(known_now)["user_id:u"] != _ids(day3)["cookie:x"]
    assert known_now.changes["reason"].to_list() == ["cookie-only person became known"]


def test_of_two_known_persons_the_older_id_survives():
    day1 = _run(("email:zed@x.com", "crm_id:9"), run_at=DAY1)
    day2 = _run(("email:zed@x.com", "crm_id:9"), ("email:amy@x.com", "user_id:a"), before=day1, run_at=DAY2)
    older = _ids(day1)["crm_id:9"]
    newer = _ids(day2)["user_id:a"]
    # the newer person sorts first by key, yet the older id survives the merge
    day3 = _run(("email:zed@x.com", "crm_id:9"), ("email:amy@x.com", "user_id:a"), ("crm_id:9", "user_id:a"),
                before=day2, run_at=DAY3)  # fmt: skip
    assert set(_ids(day3).values()) == {older}
    assert day3.changes.select("change", "from_person_id", "to_person_id").rows() == [("merge", newer, older)]


def test_new_ids_never_collide_with_an_id_issued_before():
    edges = [("email:ann@x.com", "user_id:u1"), ("email:bob@x.com", "user_id:u2")]
    day1 = _run(*edges)
    ann = _ids(day1)["email:ann@x.com"]
    # force it: an id that a new person's anchor hashes to was issued before, to someone else
    squatted = new_person_ids(pl.Series(["email:cat@x.com"])).item()
    registry = day1.registry.with_columns(
        pl.when(pl.col("person_id") == ann).then(pl.lit(squatted)).otherwise("person_id").alias("person_id")
    )
    day1.persons = day1.persons.with_columns(
        pl.when(pl.col("person_id") == ann).then(pl.lit(squatted)).otherwise("person_id").alias("person_id")
    )
    day1.registry = registry
    day2 = _run(*edges, ("email:cat@x.com", "user_id:u3"), before=day1, run_at=DAY2)
    cat = _ids(day2)["email:cat@x.com"]
    assert cat == _salted_id("email:cat@x.com", 1) != squatted
    assert _ids(day2)["email:ann@x.com"] == squatted
    assert day2.registry["person_id"].n_unique() == day2.registry.height
    # and a split hands its second part a fresh id, not the id its anchor had before a merge
    merged = _run(*edges, ("user_id:u1", "user_id:u2"), before=day1, run_at=DAY2)
    split = _run(*edges, before=merged, run_at=DAY3)
    assert split.persons["person_id"].n_unique() == 2
    assert split.registry["person_id"].n_unique() == split.registry.height
    assert split.changes["change"].to_list() == ["split"]


def test_a_long_chain_of_squatted_salts_is_followed_past_the_ids_looked_up_at_once():
    edges = [("email:ann@x.com", "user_id:u1")]
    day1 = _run(*edges)
    # every id email:cat@x.com could take up to salt 6 was issued before, to someone else
    squatted = [new_person_ids(pl.Series(["email:cat@x.com"])).item()] + [
        _salted_id("email:cat@x.com", salt) for salt in range(1, 7)
    ]
    others = pl.DataFrame({"person_id": squatted}).join(day1.registry.drop("person_id").head(1), how="cross")
    day1.registry = pl.concat([day1.registry, others.select(day1.registry.columns)])
    day2 = _run(*edges, ("email:cat@x.com", "user_id:u3"), before=day1, run_at=DAY2)
    assert _ids(day2)["email:cat@x.com"] == _salted_id("email:cat@x.com", 7)
    assert day2.registry["person_id"].n_unique() == day2.registry.height


def test_a_cookie_only_person_that_logs_in_gets_a_new_id_unlike_its_old_one():
    """Its smallest key, the anchor of both ids, stays the cookie: the new id is the anchor's salted id."""
    day1 = _run(("cookie:a1", "cookie:a2"), ("email:bob@x.com", "user_id:b"))
    old = _ids(day1)["cookie:a1"]
    day2 = _run(("cookie:a1", "cookie:a2"), ("email:bob@x.com", "user_id:b"), ("cookie:a1", "user_id:c"),
                before=day1, run_at=DAY2)  # fmt: skip
    ids = _ids(day2)
    assert ids["cookie:a1"] == ids["user_id:c"] == _salted_id("cookie:a1", 1) != old
    assert ids["email:bob@x.com"] == _ids(day1)["email:bob@x.com"]
    assert day2.registry["person_id"].n_unique() == day2.registry.height


def test_numbered_nodes_give_the_same_answer_as_keys():
    """resolve_coded (node numbers, edges in any order and repeated, a previous id whose identifier left the
    graph) gives resolve_graph's persons, ids, registry and changes."""
    day1 = _run(("cookie:c", "cookie:d"), ("email:ann@x.com", "crm_id:1"), ("cookie:gone", "crm_id:1"), run_at=DAY1)
    edges = [("cookie:c", "cookie:d", 1), ("email:ann@x.com", "crm_id:1", 2), ("cookie:c", "email:ann@x.com", 1)]
    by_keys = _run(*edges, before=day1, run_at=DAY2)
    nodes, frame = _graph(*edges)
    index = nodes.sort("key")
    number = {k: i for i, k in enumerate(index["key"])}
    coded = pl.DataFrame(
        {
            "x": [number[b] for _, b, _ in reversed(edges)] + [number["cookie:d"]],
            "y": [number[a] for a, _, _ in reversed(edges)] + [number["cookie:c"]],
            "records": [r for _, _, r in reversed(edges)] + [1],
        }
    )
    previous = day1.persons.select(node=pl.col("key").replace_strict(number, default=None), person_id="person_id")
    assert previous["node"].null_count() == 1  # cookie:gone left the graph; its id still counts as issued
    by_numbers = resolve_coded(index, coded_edges(coded), previous, day1.registry, [], GraphConfig(), DAY2)
    assert by_numbers.persons.equals(by_keys.persons)
    assert by_numbers.registry.equals(by_keys.registry)
    assert by_numbers.changes.equals(by_keys.changes) and by_keys.changes.height > 0


def test_each_shared_value_has_its_reason_and_the_others_none():
    """The three reasons in one graph (each formatted for its shared rows only), none for an identifier that is
    not shared, and the count of persons (shared values are no person)."""
    edges = [("cookie:tv", "user_id:u1"), ("cookie:tv", "email:a@x.com"), ("cookie:tv", "phone:+1555")]
    edges += [(f"email:p{i}@x.com", f"crm_id:{i}") for i in range(3)]
    edges += [(f"crm_id:{i}", "phone:+1800") for i in range(3)]
    edges += [(f"email:q{i}@x.com", "user_id:x") for i in range(2)]
    out = _run(*edges, config=GraphConfig(max_links_per_type={"email": 1}, max_persons=2))
    reasons = dict(out.persons.filter(pl.col("is_shared")).select("key", "shared_reason").rows())
    assert reasons == {
        "cookie:tv": "shared: linked to 3 identifiers",
        "phone:+1800": "shared: seen with 3 persons",
        "user_id:x": "shared: too many identifiers of one type",
    }
    assert out.persons.filter(~pl.col("is_shared"))["shared_reason"].null_count() == out.persons.height - 3
    assert out.person_count == out.persons["person_id"].drop_nulls().n_unique() == 8
