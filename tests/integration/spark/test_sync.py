"""Syncs from Spark-built models: the engine reads the activation models from Spark as Arrow and keeps its state in
the transactional state store (outflow/warehouse/state_store.py, a DuckDB file here). The example audience and
trigger syncs deliver to a webhook sandbox exactly what they deliver from the DuckDB build of the same files
(tests/integration/postgres/test_delivery_parity.py's comparison)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from activations.sandboxes.testing import make_secret
from outflow.warehouse import connect
from outflow.warehouse.state_store import location
from tests.integration.postgres.test_delivery_parity import SECRET_ENV, _deliver
from tests.integration.spark.conftest import SparkBuild

pytestmark = pytest.mark.spark


def test_syncs_from_spark_deliver_what_duckdb_delivers(
    on_spark: SparkBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = make_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    store = tmp_path / "state.duckdb"
    monkeypatch.setenv("OUTFLOW_STATE_STORE", str(store))
    (tmp_path / "duckdb").mkdir()
    (tmp_path / "spark").mkdir()
    duck_copy = tmp_path / "duckdb" / "outflow.duckdb"
    for src in on_spark.duckdb.parent.glob(on_spark.duckdb.name + "*"):  # the file and its WAL
        shutil.copy(src, duck_copy.parent / src.name)
    duck = _deliver(duck_copy, tmp_path / "duckdb", secret)
    spark = _deliver(None, tmp_path / "spark", secret)  # None: the settings' warehouse, OUTFLOW_TARGET=spark
    assert len(duck["contacts"]) > 10 and len(duck["events"]) > 0
    assert spark["counts"] == duck["counts"]
    assert spark["contacts"] == duck["contacts"]
    assert spark["events"] == duck["events"]
    assert spark["again"] == [0, 0]  # the state store says everything is delivered
    assert location() == store
    with connect(store) as state, connect(target="spark") as wh:
        held = state.execute("select count(*) from outflow_sync.sync_state").fetchone()[0]
        assert held == sum(c[3] for c in spark["counts"]) > 0
        assert not wh.table_exists("outflow_sync", "sync_state")  # Spark is only read
