"""`outflow demo` on PostgreSQL: with OUTFLOW_TARGET=postgres and no OUTFLOW_POSTGRES_URL the demo starts a local
server for its run (and removes it after); with a URL it uses that database and starts nothing; the generated data
loads into it through the real loader."""

from __future__ import annotations

import pytest

from outflow.contract import TABLES
from outflow.demo import NOT_YET_ON_POSTGRES, demo_warehouse
from outflow.pipeline import generate_and_load
from outflow.warehouse import WarehouseError, connect

pytestmark = pytest.mark.postgres


def test_the_demo_starts_a_local_server_and_loads_into_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTFLOW_TARGET", "postgres")
    monkeypatch.delenv("OUTFLOW_POSTGRES_URL", raising=False)
    with demo_warehouse() as where:
        url = where.split()[0]
        assert url.startswith("postgresql://outflow@127.0.0.1:") and "started for this demo" in where
        loaded = generate_and_load(300, 42, data_dir=tmp_path / "data")  # no warehouse given: the settings decide
        with connect() as wh:
            assert wh.target == "postgres"
            assert wh.tables("raw") == sorted([*TABLES, "dataset_info", "rejected_rows"])
            assert wh.execute("select count(*) from raw.orders").fetchone() == (loaded.rows["orders"],)
            assert wh.table_exists("truth", "people")
    assert "OUTFLOW_POSTGRES_URL" not in __import__("os").environ
    with pytest.raises(WarehouseError, match="cannot reach PostgreSQL"):
        connect(url=url)  # the server is gone


def test_the_demo_uses_the_database_the_user_names(postgres_url, monkeypatch):
    monkeypatch.setenv("OUTFLOW_TARGET", "postgres")
    monkeypatch.setenv("OUTFLOW_POSTGRES_URL", postgres_url)
    with demo_warehouse() as where:
        assert where == postgres_url
    assert NOT_YET_ON_POSTGRES == {}  # every step of the demo runs on PostgreSQL, the syncs included
