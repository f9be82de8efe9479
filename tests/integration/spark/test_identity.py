"""Identity on Spark gives the ids of the DuckDB path on hard-mode data (outflow generate --hard).

The hard-mode graph is built once by the real `dbt build` on DuckDB; its int_identity__nodes and __edges are
written to Spark, and both paths resolve them twice with the same clock: a first run (new ids, the registry) and
a second run with overrides (a never-merge that splits a person, a forced merge of two), where earlier ids vote,
the registry is read and merges and splits are reported. The person map, the id registry and the identity
changes must be equal row for row. The demo's equality after a full `dbt build` on Spark is in test_parity.py.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from outflow.identity_graph import Override
from outflow.label_propagation import resolve_in_warehouse
from outflow.person_map import identity_config, resolve_person_map
from outflow.warehouse import Warehouse, connect
from tests.hard_graph import GRAPH, split_and_merge
from tests.hard_graph import hard_graph as build_hard_graph
from tests.integration.spark.conftest import SparkBuild

pytestmark = pytest.mark.spark

SOURCE, SCHEMA = "hard_graph", "hard_identity"  # on Spark, beside the demo's build
RUNS = (datetime(2026, 11, 2, 6), datetime(2026, 11, 3, 6))


@pytest.fixture(scope="module")
def hard_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB warehouse holding only the hard-mode identity graph dbt built."""
    return build_hard_graph(tmp_path_factory.mktemp("hard"))


def _tables(wh: Warehouse, schema: str) -> dict[str, pl.DataFrame]:
    return {
        "person_map": wh.fetch_polars(
            f"select identifier_key, person_id, is_shared, cluster_size, shared_reason from {schema}.person_map"
        ).sort("identifier_key"),
        "person_ids": wh.fetch_polars(f"select person_id, issued_at, known, anchor from {schema}.person_ids").sort(
            "person_id"
        ),
        "identity_changes": wh.fetch_polars(f"select * from {schema}.identity_changes").sort(pl.all()),
    }


def test_hard_mode_ids_equal_duckdb(on_spark: SparkBuild, hard_graph: Path, caplog) -> None:
    config = identity_config()
    with connect(hard_graph, read_only=True) as duck, connect(target="spark") as spark:
        for table in GRAPH:
            spark.write_arrow(f"{SOURCE}.{table}", duck.fetch_arrow(f"select * from main.{table}"), mode="replace")
        spark.execute(f"drop schema if exists {SCHEMA} cascade")
    overrides: list[Override] = []
    for run, at in enumerate(RUNS):
        with connect(hard_graph) as duck:
            resolve_person_map(duck, config, overrides, run_at=at)
            expected = _tables(duck, "outflow_identity")
        with caplog.at_level(logging.INFO, logger="outflow.label_propagation"), connect(target="spark") as spark:
            resolve_in_warehouse(spark, config, overrides, at, source=SOURCE, schema=SCHEMA)
            got = _tables(spark, SCHEMA)
        assert expected["person_map"].height > 2000 and expected["person_map"]["is_shared"].sum() > 0
        for name, frame in expected.items():
            assert got[name] is not None and got[name].equals(frame), f"run {run + 1}: {name} differs on Spark"
        if run == 0:
            assert expected["person_ids"].height == expected["person_map"]["person_id"].n_unique() - 1  # + null
            overrides = split_and_merge(expected["person_map"])
        else:  # the overrides moved identifiers, and the changes say so
            reasons = set(expected["identity_changes"]["reason"].to_list())
            assert {"override: never merge", "override: forced merge"} <= reasons
    rounds = [r.getMessage() for r in caplog.records if "label propagation (groups) round" in r.getMessage()]
    assert rounds and rounds[-1].endswith(": 0 labels changed")
