"""Partial builds (`outflow build --select`) and partial full refreshes leave the warehouse whole, on PostgreSQL above
all, where dbt rebuilds or drops a table with `drop ... cascade` and so drops every view that reads it.

- a selection that rebuilds a table or a view rebuilds the views over it too (`int_identity__fuzzy_links` and the view
  `int_identity__edges`, which the identity step of the same build reads);
- `--full-refresh --select X` drops only the derived models the selection rebuilds, not every derived model;
- a selection that reads a model the warehouse does not have stops before it writes anything, in one line naming
  what to build first.

Each test works on its own copy of the demo build (or a database with the demo data loaded and nothing built)."""

from __future__ import annotations

from pathlib import Path

import pytest

from outflow.contract import GATING_TABLES
from outflow.errors import OutflowError
from outflow.load import load_directory
from outflow.pipeline import build
from tests.demo_builds import DuckdbDemo, postgres_env
from tests.warehouse_fixtures import TARGETS, Location, new_location

#: tables that a partial build must leave as they were (written by models it does not select)
UNTOUCHED = ["fct_events", "int_identity__signatures", "stg_web__events", "dim_profiles"]


def _build(where: Location, mp: pytest.MonkeyPatch, **kwargs) -> None:
    if where.url is not None:
        postgres_env(mp, where.url)
        build(**kwargs)
    else:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        build(warehouse=where.path, **kwargs)


def _counts(where: Location, names: list[str]) -> dict[str, int]:
    with where.connect() as wh:
        return {n: wh.execute(f"select count(*) from main.{n}").fetchone()[0] for n in names}


@pytest.mark.parametrize(
    ("select", "full_refresh"),
    [
        ("int_identity__fuzzy_links", False),  # a table: rebuilt by create, rename, drop of the old one (cascade)
        ("int_identity__pairs", True),  # incremental: a full refresh drops it
        ("stg_web__events", True),  # read by the views int_identity__occurrences and __record_persons
        ("stg_shop__order_countries", False),  # a view: its old one dropped with cascade too (stg_phones__distinct...)
    ],
)
def test_a_partial_build_keeps_every_relation(
    demo_warehouse: Location, monkeypatch: pytest.MonkeyPatch, select: str, full_refresh: bool
) -> None:
    with demo_warehouse.connect() as wh:
        before = wh.tables("main")
    counts = _counts(demo_warehouse, ["int_identity__edges", *UNTOUCHED])
    # the identity step runs in the same build (the selection is upstream of its inputs): it reads the edges
    _build(demo_warehouse, monkeypatch, select=select, full_refresh=full_refresh)
    with demo_warehouse.connect() as wh:
        assert set(before) - set(wh.tables("main")) == set()  # no view dropped with a rebuilt table
    assert _counts(demo_warehouse, ["int_identity__edges", *UNTOUCHED]) == counts


@pytest.fixture(params=TARGETS)
def loaded(request: pytest.FixtureRequest, tmp_path: Path, demo_duckdb: DuckdbDemo) -> Location:
    """The demo data loaded into a new warehouse, nothing built."""
    where = new_location(request, tmp_path)
    with where.connect() as wh:
        load_directory(wh, demo_duckdb.data, allow_empty=GATING_TABLES)
    return where


def test_a_selection_that_reads_what_is_not_built_says_what_to_build(
    loaded: Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    for select in ("dim_profiles", "int_identity__signatures+"):
        with pytest.raises(OutflowError, match=r"reads main\.\w+, which the warehouse .* does not have: build") as e:
            _build(loaded, monkeypatch, select=select)
        assert "`outflow build --select +" in str(e.value) and "\n" not in str(e.value)
        with loaded.connect() as wh:
            assert wh.tables("main") == []  # stopped before anything was written
    _build(loaded, monkeypatch, select="+dim_profiles")
    assert _counts(loaded, ["dim_profiles"])["dim_profiles"] > 1000
