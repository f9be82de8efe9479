"""Parity on Apache Spark: the demo data built with the real `dbt build` on local Spark (dbt-spark, session method)
gives the same tables as on DuckDB, and the identity step (label propagation in Spark SQL) the same person ids.

The comparison is the PostgreSQL parity suite's (tests/integration/postgres/parity.py): types normalised per
family, floats within a relative 1e-9, lead scores bit for bit. One Spark build per session (conftest.py).
"""

from __future__ import annotations

import json
import logging

import pytest

from outflow import settings
from outflow.identity_graph import GraphConfig
from outflow.label_propagation import resolve_in_warehouse
from outflow.person_map import identity_config, load_overrides
from outflow.warehouse import Warehouse, connect
from tests.integration.postgres.parity import compare, duckdb_relations, duckdb_table, node_kinds
from tests.integration.postgres.test_parity import EXACT
from tests.integration.spark.conftest import SparkBuild

pytestmark = pytest.mark.spark


def _manifest() -> dict:
    return json.loads((settings.dbt_target_dir() / "manifest.json").read_text())


def test_dbt_build_passes_on_spark(on_spark: SparkBuild) -> None:
    """Every model, seed, snapshot, data test and unit test of the project runs and passes on local Spark."""
    run = on_spark.run
    assert run.success and not run.failures()
    bad = [(r["name"], r["status"]) for r in run.results if r["status"] not in ("success", "pass")]
    assert not bad
    manifest = _manifest()
    kinds = node_kinds(run)
    models = sum(1 for n in manifest["nodes"].values() if n["resource_type"] == "model")
    tests = sum(1 for n in manifest["nodes"].values() if n["resource_type"] == "test")
    assert kinds["model"] == models >= 60
    assert kinds["test"] == tests and kinds["unit_test"] == len(manifest["unit_tests"]) >= 10
    assert kinds["snapshot"] == 1 and kinds["seed"] >= 5
    assert on_spark.load.rows["web_events"] > 10_000


def _spark_relations(wh: Warehouse, schema: str) -> dict[str, dict[str, str]]:
    return {name: wh.columns(schema, name) for name in wh.tables(schema)}


def _differences(build: SparkBuild, nodes: list[dict]) -> list[str]:
    differences = []
    with connect(build.duckdb, read_only=True) as duck, connect(target="spark") as spark:
        duck_rel = {s: duckdb_relations(duck, s) for s in {n["schema"] for n in nodes}}
        spark_rel = {s: _spark_relations(spark, s) for s in duck_rel}
        for node in sorted(nodes, key=lambda n: n["name"]):
            schema, name = node["schema"], node["alias"] or node["name"]
            if name not in duck_rel[schema] or name not in spark_rel[schema]:
                differences.append(f"{name}: missing on {'duckdb' if name not in duck_rel[schema] else 'spark'}")
                continue
            left = duckdb_table(duck, schema, name, duck_rel[schema][name])
            right = duckdb_table(spark, schema, name, spark_rel[schema][name])  # any Warehouse: the interface
            found = [str(d) for d in compare(name, left, right, ("duckdb", "spark"))]
            differences += found
            for column in EXACT.get(name, []) if not found else []:
                a, b = left.sort("person_id")[column], right.sort("person_id")[column]
                if not a.eq_missing(b).all():
                    differences.append(f"{name}: {column} rounds differently on {int((~a.eq_missing(b)).sum())} rows")
    return differences


def test_every_model_equals_duckdb(on_spark: SparkBuild) -> None:
    nodes = [n for n in _manifest()["nodes"].values() if n["resource_type"] in ("model", "seed", "snapshot")]
    assert len(nodes) >= 70
    differences = _differences(on_spark, nodes)
    assert not differences, "\n".join(differences)


PERSON_MAP = "select identifier_key, person_id, is_shared, cluster_size from outflow_identity.person_map"


def _person_maps(build: SparkBuild) -> tuple:
    with connect(build.duckdb, read_only=True) as duck, connect(target="spark") as spark:
        duck_map = duckdb_table(duck, "outflow_identity", "person_map", duck.columns("outflow_identity", "person_map"))
        spark_map = duckdb_table(
            spark, "outflow_identity", "person_map", spark.columns("outflow_identity", "person_map")
        )
    return duck_map, spark_map


def test_identity_ids_equal_duckdb(on_spark: SparkBuild, caplog: pytest.LogCaptureFixture) -> None:
    """The identity step on Spark (groups by label propagation, each resolved by the DuckDB path's resolve_graph
    on an executor) gives every identifier the person id it has on DuckDB (same guards: shared identifiers have
    none), and a second run keeps every id, logging each round."""
    duck_map, spark_map = _person_maps(on_spark)
    assert spark_map.height == duck_map.height > 1000
    assert spark_map["is_shared"].sum() == duck_map["is_shared"].sum() > 0  # the guard marked shared identifiers
    assert not compare("person_map", duck_map, spark_map, ("duckdb", "spark"))

    with caplog.at_level(logging.INFO, logger="outflow.label_propagation"), connect(target="spark") as spark:
        resolve_in_warehouse(spark, identity_config(), load_overrides())
    rounds = [r.getMessage() for r in caplog.records if "label propagation (groups) round" in r.getMessage()]
    assert rounds and rounds[-1].endswith(": 0 labels changed") and len(rounds) < 20
    assert not compare("person_map", duck_map, _person_maps(on_spark)[1], ("duckdb", "spark"))


def test_label_propagation_is_bounded(on_spark: SparkBuild) -> None:
    """A graph that needs more rounds than allowed stops with one line naming where the guards are set."""
    from outflow.errors import OutflowError

    with connect(target="spark") as spark, pytest.raises(OutflowError, match="did not converge in 1 rounds"):
        resolve_in_warehouse(spark, GraphConfig(), [], max_iterations=1)
