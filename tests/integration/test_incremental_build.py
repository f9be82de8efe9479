"""Incremental daily builds equal a full refresh: a generated dataset arrives over three days, each day is built
incrementally, then a copy is rebuilt with `--full-refresh` and every incremental model is compared row for row."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from outflow.pipeline import build, generate_and_load
from outflow.warehouse import connect
from tests.integration.test_identity_graph import ARRIVAL

# web events arrive when the collector received them (their load key), late ones days after they occurred
DAY_ARRIVAL = {**ARRIVAL, "web_events": "received_at"}
# the incremental models computed from the raw data (tag `derived`), and a mart built on them
COMPARED = ["stg_web__events", "stg_email__events", "fct_events", "dim_profile_traits"]


def _rows(wh, model: str) -> pl.DataFrame:
    df = wh.fetch_polars(f"select * from main.{model}")
    return df.sort(df.columns, nulls_last=True)


def _append(src: Path, dst: Path, start, end) -> None:
    """Copy the raw rows that arrived in (start, end] (end None: everything after start) from src to dst."""
    with connect(src) as s, connect(dst) as d:
        for table, column in DAY_ARRIVAL.items():
            where = f"{column} > ?" + (f" and {column} <= ?" if end else "")
            rows = s.fetch_arrow(f"select * from raw.{table} where {where}", [start, end] if end else [start])
            d.write_arrow(f"raw.{table}", rows, mode="append")


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """The generated dataset (all days) and the cut-offs of its first two days."""
    root = tmp_path_factory.mktemp("incremental")
    full = root / "full.duckdb"
    generate_and_load(250, 11, warehouse=full, data_dir=root / "data")
    with connect(full) as wh:
        end = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
    return full, [end - timedelta(days=60), end - timedelta(days=20)]


@pytest.mark.slow  # four builds of a small dataset
def test_incremental_days_equal_a_full_refresh(days, tmp_path: Path) -> None:
    full, cutoffs = days
    inc = tmp_path / "incremental.duckdb"
    shutil.copy(full, inc)
    with connect(inc) as wh:
        for table, column in DAY_ARRIVAL.items():
            wh.execute(f"delete from raw.{table} where {column} > ?", [cutoffs[0]])
    build(warehouse=inc)
    with connect(inc) as wh:
        first = dict(wh.execute("select event_id, person_id from main.fct_events").fetchall())
        late = wh.execute(
            "select count(*) from main.stg_web__events where received_at - occurred_at > interval '1 day'"
        ).fetchone()[0]
    for start, end in zip(cutoffs, [*cutoffs[1:], None], strict=True):
        _append(full, inc, start, end)
        with connect(inc) as wh:  # an order's status changes in place, as a shop's export reports it
            wh.execute(
                "update raw.orders set status = 'refunded' where order_id = "
                "(select min(order_id) from raw.orders where status = 'completed')"
            )
        build(warehouse=inc)

    twin = tmp_path / "refreshed.duckdb"
    shutil.copy(inc, twin)
    if Path(f"{inc}.wal").exists():  # what the build's session has not checkpointed yet
        shutil.copy(f"{inc}.wal", f"{twin}.wal")
    build(warehouse=twin, full_refresh=True)
    with connect(inc) as a, connect(twin) as b:
        for model in COMPARED:
            incremental, refreshed = _rows(a, model), _rows(b, model)
            assert incremental.height > 0, model
            assert incremental.equals(refreshed), f"{model}: the incremental build differs from a full refresh"
        last = dict(a.execute("select event_id, person_id from main.fct_events").fetchall())
        refunds = a.execute(
            "select count(*) from main.fct_events where source = 'order' and event_type = 'order_refunded'"
        ).fetchone()[0]
        raw_refunds = a.execute("select count(*) from raw.orders where status = 'refunded'").fetchone()[0]
    # the days exercised what incremental runs must carry over: late web events, identity merges that move
    # stored events to another person, and changed order statuses
    assert late > 0
    assert any(last.get(k) not in (v, None) for k, v in first.items())
    assert refunds == raw_refunds
