"""Incremental daily builds equal a full refresh: a generated dataset arrives over three days, each day is built
incrementally, then the warehouse is rebuilt with `--full-refresh` and every incremental model is compared row for
row with what the incremental days left, on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import polars.selectors as cs
import pytest
from typer.testing import CliRunner

from outflow.cli import app
from outflow.contract import GATING_TABLES
from outflow.load import load_directory
from outflow.pipeline import build, generate_and_load
from outflow.warehouse import connect
from tests.demo_builds import postgres_env
from tests.integration.test_identity_graph import ARRIVAL
from tests.warehouse_fixtures import TARGETS, fresh_database

# web events arrive when the collector received them (their load key), late ones days after they occurred
DAY_ARRIVAL = {**ARRIVAL, "web_events": "received_at"}
# the incremental models computed from the raw data (tag `derived`), and a mart built on them
COMPARED = [
    "stg_web__events",
    "stg_email__events",
    "int_identity__signatures",
    "int_identity__nodes",
    "fct_events",
    "dim_profile_traits",
]


def _rows(wh, model: str) -> pl.DataFrame:
    # doubles to 9 decimals: a sum of doubles (a person's revenue) differs in its last bits with the order its
    # rows are read in, which differs between a table rewritten by delete+insert and one built whole
    df = wh.fetch_polars(f"select * from main.{model}").with_columns(cs.float().round(9))
    return df.sort(df.columns, nulls_last=True)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    """The generated dataset (its files, and loaded in full) and the cut-offs of its first two days."""
    root = tmp_path_factory.mktemp("incremental")
    full = root / "full.duckdb"
    generate_and_load(250, 11, warehouse=full, data_dir=root / "data")
    with connect(full) as wh:
        end = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
    return root / "data", full, [end - timedelta(days=60), end - timedelta(days=20)]


@pytest.fixture(params=TARGETS)
def warehouse(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """connect() and build() arguments for an empty warehouse of the target (PostgreSQL: its own database)."""
    if request.param == "duckdb":
        path = tmp_path / "incremental.duckdb"
        monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(path))  # for the CLI
        yield {"connect": {"path": path}, "build": {"warehouse": path}}
        return
    url = fresh_database(request.getfixturevalue("postgres_url"))
    postgres_env(monkeypatch, url)
    yield {"connect": {"url": url}, "build": {}}


@pytest.mark.slow  # four builds of a small dataset per target
def test_incremental_days_equal_a_full_refresh(days, warehouse: dict) -> None:
    data, full, cutoffs = days
    with connect(**warehouse["connect"]) as wh:
        load_directory(wh, data, allow_empty=GATING_TABLES)
        for table, column in DAY_ARRIVAL.items():
            wh.execute(f"delete from raw.{table} where {column} > ?", [cutoffs[0]])
    build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        first = dict(wh.execute("select event_id, person_id from main.fct_events").fetchall())
    # two more days arrive: each appends the rows that arrived in its period (and an order's status changes in
    # place, as a shop's export reports it), and the build runs incrementally
    for start, end in zip(cutoffs, [*cutoffs[1:], None], strict=True):
        with connect(full) as src, connect(**warehouse["connect"]) as dst:
            for table, column in DAY_ARRIVAL.items():
                where = f"{column} > ?" + (f" and {column} <= ?" if end else "")
                rows = src.fetch_arrow(f"select * from raw.{table} where {where}", [start, end] if end else [start])
                dst.write_arrow(f"raw.{table}", rows, mode="append")
            dst.execute(
                "update raw.orders set status = 'refunded' where order_id = "
                "(select min(order_id) from raw.orders where status = 'completed')"
            )
        build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        incremental = {model: _rows(wh, model) for model in COMPARED}
        late = wh.execute(
            "select count(*) from main.stg_web__events where received_at - occurred_at > interval '1 day' "
            "and received_at > ?",
            [cutoffs[0]],
        ).fetchone()[0]
        last = dict(wh.execute("select event_id, person_id from main.fct_events").fetchall())
        refunded = wh.execute(
            "select count(*) from main.fct_events as f join raw.orders as o on o.order_id = f.event_id "
            "where f.source = 'order' and f.event_type <> 'order_' || o.status"
        ).fetchone()[0]
        # a stored row the incremental path cannot see again (outside the lookback): only a full refresh restores it
        wh.execute("delete from main.stg_web__events where event_id = (select min(event_id) from main.stg_web__events)")
    refresh = CliRunner().invoke(app, ["build", "--full-refresh"])  # one command
    assert refresh.exit_code == 0, refresh.output
    with connect(**warehouse["connect"]) as wh:
        for model, rows in incremental.items():
            assert rows.height > 0, model
            assert rows.equals(_rows(wh, model)), f"{model}: the incremental build differs from a full refresh"
    # the days exercised what incremental runs must carry over: web events that arrived late, identity merges
    # that move stored events to another person, and changed order statuses
    assert late > 0
    assert any(last.get(k) not in (v, None) for k, v in first.items())
    assert refunded == 0
