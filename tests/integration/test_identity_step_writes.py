"""The identity step's writes on both targets: remembered edges merged in place equal the edges of every run
grouped per pair and origin, and the person map updated in place equals the resolver's answer plus the rows of
identifiers that left the graph."""

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from outflow.identity_graph import EDGE_COLUMNS, GraphConfig, resolve_graph
from outflow.person_map import CHANGES, EDGES_SEEN, MAP_COLUMNS, PERSON_MAP, resolve_person_map
from tests.warehouse_fixtures import TARGETS, open_target

T = [datetime(2026, 1, d) for d in range(1, 8)]
EDGE_SCHEMA = {
    "a": pl.String, "b": pl.String, "origin": pl.String, "records": pl.Int64,
    "first_seen_at": pl.Datetime("us"), "last_seen_at": pl.Datetime("us"), "source_record": pl.String,
}  # fmt: skip
DAY1 = [
    ("email:ann@x.com", "user_id:ann", "record", 2, T[1], T[2], "crm:1"),
    ("cookie:c1", "user_id:ann", "record", 1, T[1], T[1], "web:1"),
    ("cookie:c2", "email:bob@x.com", "record", 1, T[2], T[2], None),
    ("email:bob@x.com", "user_id:bob", "record", 1, T[2], T[3], "crm:2"),
    ("crm_id:9", "email:bob@x.com", "fuzzy", 1, T[2], T[2], "crm:9"),  # the fuzzy stage is off: forgotten
    ("cookie:c3", "cookie:c6", "record", 1, T[3], T[3], "web:3"),  # a cookie-only person
]
DAY2 = [
    ("email:ann@x.com", "user_id:ann", "record", 3, T[1], T[4], "crm:0"),  # same first seen, a smaller record
    ("cookie:c1", "user_id:ann", "record", 1, T[0], T[0], "web:0"),  # seen earlier after all, with another record
    ("cookie:c2", "email:bob@x.com", "record", 1, T[2], T[2], "web:2"),  # a record where none was
    ("email:bob@x.com", "user_id:bob", "record", 1, T[2], T[3], "crm:2"),  # unchanged
    ("cookie:c4", "user_id:bob", None, 1, None, None, None),  # new, with no origin
    ("cookie:c1", "email:bob@x.com", "record", 1, T[5], T[5], "web:5"),  # a household cookie: new
    ("cookie:c6", "user_id:ann", "record", 1, T[5], T[5], "web:6"),  # the cookie-only person logs in as ann
]


def _nodes(edges: list[tuple], blocked: set[str] = frozenset()) -> pl.DataFrame:
    keys = sorted({k for e in edges for k in e[:2]})
    return pl.DataFrame(
        {
            "identifier_key": keys,
            "identifier_type": [k.split(":")[0] for k in keys],
            "block_reason": ["junk" if k in blocked else None for k in keys],
        }
    )


def _grouped(*days: list[tuple]) -> pl.DataFrame:
    """Every day's edges grouped per pair and origin: most records, first and last seen, the earliest record."""
    frames = [pl.DataFrame(day, schema=EDGE_SCHEMA, orient="row") for day in days]
    return (
        pl.concat(frames)
        .filter(pl.col("origin").ne_missing("fuzzy"))
        .sort(["a", "b", "origin", "first_seen_at", "source_record"], nulls_last=True)
        .group_by("a", "b", "origin", maintain_order=True)
        .agg(
            pl.col("records").max(),
            pl.col("first_seen_at").min(),
            pl.col("last_seen_at").max(),
            pl.col("source_record").first(),
        )
    )


def _sorted(frame: pl.DataFrame, columns: list[str]) -> list[tuple]:
    return sorted(frame.select(columns).rows(), key=repr)


@pytest.fixture(params=TARGETS)
def wh(request: pytest.FixtureRequest, tmp_path: Path):
    postgres_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with open_target(request.param, tmp_path, postgres_url) as warehouse:
        yield warehouse


def test_edges_and_map_written_in_place_equal_a_full_rewrite(wh) -> None:
    config = GraphConfig()
    day2_nodes = _nodes(DAY1 + DAY2, blocked={"cookie:c3"})  # blocked on day 2: it leaves the graph
    for day, nodes, at in ((DAY1, _nodes(DAY1), T[3]), (DAY2, day2_nodes, T[6])):
        wh.write_arrow("main.int_identity__nodes", nodes, mode="replace")
        wh.write_arrow("main.int_identity__edges", pl.DataFrame(day, schema=EDGE_SCHEMA, orient="row"), mode="replace")
        resolve_person_map(wh, config=config, overrides=[], run_at=at)
        if day is DAY1:
            first = wh.fetch_polars(f"select * from {PERSON_MAP}")
    # day 1 wrote its edges as they came (the fuzzy one too); day 2 merged and forgot the switched-off stage's
    assert _sorted(wh.fetch_polars(f"select * from {EDGES_SEEN}"), EDGE_COLUMNS) == _sorted(
        _grouped(DAY1, DAY2), EDGE_COLUMNS
    )
    # the map: the resolver's answer on the remembered edges, and the blocked cookie's last row kept
    usable = day2_nodes.filter(pl.col("block_reason").is_null())
    expected = resolve_graph(
        usable.select(key="identifier_key", type="identifier_type"),
        _grouped(DAY1, DAY2),
        previous=first.select(key="identifier_key", person_id="person_id"),
        registry=wh.fetch_polars("select * from outflow_identity.person_ids").filter(pl.col("issued_at") < T[6]),
        config=config,
        run_at=T[6],
    )
    kept = first.filter(pl.col("identifier_key") == "cookie:c3")
    rows = expected.persons.rename({"key": "identifier_key"}).select(MAP_COLUMNS)
    written = wh.fetch_polars(f"select * from {PERSON_MAP}")
    assert _sorted(written, MAP_COLUMNS) == _sorted(pl.concat([rows, kept.select(MAP_COLUMNS)]), MAP_COLUMNS)
    assert written.height == len(day2_nodes)
    moved = wh.fetch_polars(f"select * from {CHANGES} where changed_at = ?", [T[6]])
    assert _sorted(moved, moved.columns) == _sorted(expected.changes, moved.columns)
    assert "cookie-only person became known" in moved["reason"].to_list()
