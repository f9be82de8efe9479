"""A day's identity step resolves only the components that changed, and writes what resolving the whole graph
writes: the person map, the id registry, the change history, the remembered edges, the changed identifiers and
the keys outside the graph, on every day of a replayed history (edges revealed by first sighting, sightings that
grow, identifiers blocked and unblocked, overrides, a config change). The graphs are the ones dbt built: the demo's
and the hard-mode generator's."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from outflow.identity_graph import Override
from outflow.person_map import SCHEMA, identity_config, resolve_person_map
from outflow.warehouse import Warehouse, connect
from tests.hard_graph import GRAPH, graph_only, hard_graph, split_and_merge
from tests.warehouse_fixtures import TARGETS, open_target

TABLES = ("person_map", "person_ids", "identity_changes", "edges_seen", "changed_identifiers", "outside_graph")
DAYS = 6
RUN = datetime(2026, 11, 2, 6)


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hard_graph(tmp_path_factory.mktemp("hard"))


@pytest.fixture(params=["demo", "hard"])
def graph(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    if request.param == "demo":
        path = graph_only(request.getfixturevalue("built_warehouse"), tmp_path / "demo.duckdb")
    else:
        path = request.getfixturevalue("hard")
    with connect(path, read_only=True) as wh:
        return tuple(wh.fetch_polars(f"select * from main.{table}") for table in GRAPH)  # type: ignore[return-value]


@pytest.fixture(params=TARGETS)
def wh(request: pytest.FixtureRequest, tmp_path: Path):
    postgres_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with open_target(request.param, tmp_path, postgres_url) as warehouse:
        yield warehouse


def _day(nodes: pl.DataFrame, edges: pl.DataFrame, day: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The graph as a build on day `day` (1..DAYS) saw it: the edges first seen by then, their records and last
    sighting as of then; the identifiers seen by then, a few of the busiest blocked on day 3 (half of them back on
    day 4)."""
    first = edges["first_seen_at"].drop_nulls().sort()
    cut = first[min(first.len() - 1, int(first.len() * (0.4 + 0.6 * day / DAYS)) - (day < DAYS))]
    seen = edges.filter(pl.col("first_seen_at").is_null() | (pl.col("first_seen_at") <= cut)).with_columns(
        last_seen_at=pl.min_horizontal("last_seen_at", pl.lit(cut)),
        records=pl.max_horizontal(pl.lit(1), pl.col("records") - (DAYS - day)),
    )
    ends = pl.concat([seen["a"], seen["b"]]).unique()
    linked = pl.concat([edges["a"], edges["b"]]).unique()
    keys = nodes["identifier_key"]
    shown = nodes.filter(keys.is_in(ends) | (~keys.is_in(linked) & (keys.hash(7) % DAYS < day)))
    degrees = pl.concat([seen["a"], seen["b"]]).alias("key").value_counts(name="n")
    busiest = degrees.sort(["n", "key"], descending=[True, False])["key"].head(6)
    blocked = busiest if day == 3 else busiest.head(3) if day == 4 else pl.Series([], dtype=pl.String)
    shown = shown.with_columns(
        block_reason=pl.when(pl.col("identifier_key").is_in(blocked)).then(pl.lit("test")).otherwise("block_reason")
    )
    return shown, seen


def _tables(wh: Warehouse) -> dict[str, list[tuple]]:
    out = {}
    for table in TABLES:
        frame = wh.fetch_polars(f"select * from {SCHEMA}.{table}")
        frame = frame.select(sorted(frame.columns))
        out[table] = sorted(frame.rows(), key=repr)
    return out


def test_a_day_resolves_what_changed_and_writes_what_the_whole_graph_gives(graph, wh, tmp_path, caplog) -> None:
    nodes, edges = graph
    config = identity_config()
    overrides: list[Override] = []
    partial, changed = [], 0
    with connect(tmp_path / "whole.duckdb") as whole:
        for day in range(1, DAYS + 1):
            day_nodes, day_edges = _day(nodes, edges, day)
            if day == 2:  # overrides from day 2: that day resolves the whole graph, the next ones again in part
                overrides = split_and_merge(whole.fetch_polars(f"select * from {SCHEMA}.person_map"))
            if day == DAYS:  # another config: the whole graph again
                config = replace(config, max_cluster_size=config.max_cluster_size - 1)
            at = RUN + timedelta(days=day)
            for target in (wh, whole):
                for table, frame in zip(GRAPH, (day_nodes, day_edges), strict=True):
                    target.write_arrow(f"main.{table}", frame, mode="replace")
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="outflow.person_map"):
                assert (
                    resolve_person_map(wh, config, overrides, run_at=at)
                    == day_nodes.filter(pl.col("block_reason").is_null()).height
                )
            counts = re.search(r"(\d+) identifiers in the graph, (\d+) of them resolved \(([^)]*)\)", caplog.text)
            assert counts is not None
            partial.append(counts[3] == "the components that changed" and int(counts[2]) < int(counts[1]))
            resolve_person_map(whole, config, overrides, run_at=at, whole=True)
            got, expected = _tables(wh), _tables(whole)
            for table in TABLES:
                assert got[table] == expected[table], f"day {day}: {table} differs from the whole graph's"
            if day > 1:
                changed += len(expected["changed_identifiers"])
    # the first day, the day the overrides came and the day the config changed resolve the whole graph
    assert partial == [False, False, True, True, True, False]
    assert changed > 0


def _graph(edges: list[tuple[str, str]], blocked: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = sorted({k for e in edges for k in e})
    nodes = pl.DataFrame(
        {
            "identifier_key": keys,
            "identifier_type": [k.split(":")[0] for k in keys],
            "block_reason": ["test" if k in blocked else None for k in keys],
        }
    )
    frame = pl.DataFrame(
        [(a, b, "record", 1, RUN, RUN, f"web:{i}") for i, (a, b) in enumerate(edges)],
        schema=["a", "b", "origin", "records", "first_seen_at", "last_seen_at", "source_record"],
        orient="row",
    )
    return nodes, frame


def test_an_identifier_back_alone_with_its_old_id_is_resolved_with_that_id_s_component(wh, tmp_path) -> None:
    """A cookie seen with a device seen with ann's email leaves the graph with the device, then comes back alone:
    its old id spans its component and ann's, which nothing else touched; ann keeps the id, the cookie gets a new
    one, as resolving the whole graph says. Another person, never touched, keeps its row."""
    edges = [("cookie:c", "device:d"), ("device:d", "email:ann@x.com"), ("email:ann@x.com", "user_id:ann"),
             ("email:bob@x.com", "user_id:bob")]  # fmt: skip
    days = [set(), {"cookie:c", "device:d"}, {"device:d"}]
    with connect(tmp_path / "whole.duckdb") as whole:
        for day, blocked in enumerate(days):
            for target in (wh, whole):
                for table, frame in zip(GRAPH, _graph(edges, blocked), strict=True):
                    target.write_arrow(f"main.{table}", frame, mode="replace")
            at = RUN + timedelta(days=day)
            resolve_person_map(wh, identity_config(), [], run_at=at)
            resolve_person_map(whole, identity_config(), [], run_at=at, whole=True)
            assert _tables(wh) == _tables(whole), f"day {day + 1} differs from the whole graph's"
        persons = dict(wh.fetch_polars(f"select identifier_key, person_id from {SCHEMA}.person_map").rows())
    assert persons["cookie:c"] != persons["user_id:ann"] == persons["device:d"]  # the device keeps its last row
