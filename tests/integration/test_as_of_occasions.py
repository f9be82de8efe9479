"""The as-of date end to end: `outflow build --as-of DAY` keeps that day's orders (to 23:59:59) and drops the next
midnight's; purchase occasions count distinct purchase days; the traits expose the customer-base inputs; CLV scores
land in main.ml_customer_value from `outflow clv fit`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outflow.asof import end_of_day, parse_as_of, resolve_as_of
from outflow.build import run_dbt
from outflow.cli import app
from outflow.errors import OutflowError
from outflow.warehouse import connect
from tests.integration.segments.conftest import copy_warehouse

EMAIL = "edge.buyer@shopmail.net"  # not a reserved domain: those are junk to identity
ORDERS = [  # (id, amount, ordered_at)
    ("O-edge-1", 10.0, "2026-10-20 09:00:00"),
    ("O-edge-2", 20.0, "2026-11-01 08:00:00"),  # the as-of day ...
    ("O-edge-3", 30.0, "2026-11-01 23:59:59"),  # ... to its last second: the same purchase occasion
    ("O-edge-4", 99.0, "2026-11-02 00:00:00"),  # the next midnight: after the as-of
]


@pytest.fixture(scope="module")
def edge_warehouse(built_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("asof") / "outflow.duckdb"
    data_as_of = copy_warehouse(built_warehouse, path)
    with connect(path) as con:
        con.executemany(
            "insert into raw.orders (order_id, email, phone, user_id, amount, currency, status, ordered_at) "
            "values (?, ?, null, null, ?, 'USD', 'completed', cast(? as timestamp))",
            [(oid, EMAIL, amount, at) for oid, amount, at in ORDERS],
        )
    return path, data_as_of


def test_semantics_of_a_bare_date(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_as_of("2026-11-01") == dt.datetime(2026, 11, 2) == end_of_day(dt.date(2026, 11, 1))
    assert parse_as_of("2026-11-01T12:30:00") == dt.datetime(2026, 11, 1, 12, 30)
    monkeypatch.setenv("OUTFLOW_TIMEZONE", "Europe/Berlin")
    assert parse_as_of("2026-11-01T12:00:00+00:00") == dt.datetime(2026, 11, 1, 13, 0)  # into the warehouse's zone
    monkeypatch.delenv("OUTFLOW_TIMEZONE")
    monkeypatch.setenv("OUTFLOW_AS_OF", "2026-10-15")
    assert resolve_as_of().moment == dt.datetime(2026, 10, 16) and resolve_as_of().source == "OUTFLOW_AS_OF"
    assert resolve_as_of("2026-10-01").source == "--as-of"  # the flag wins over the setting
    monkeypatch.delenv("OUTFLOW_AS_OF")
    assert resolve_as_of().moment is None  # no flag, no setting, no dataset: the clock
    with pytest.raises(OutflowError, match="--as-of '1 Nov' is not an ISO date"):
        parse_as_of("1 Nov")


@pytest.mark.slow  # a real dbt build of the demo warehouse (about a minute)
def test_build_as_of_day_keeps_that_days_orders(edge_warehouse: tuple[Path, str], monkeypatch) -> None:
    path, data_as_of = edge_warehouse
    assert data_as_of == "2026-11-01"
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(path))
    monkeypatch.delenv("OUTFLOW_AS_OF", raising=False)
    result = CliRunner().invoke(app, ["build", "--as-of", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert "as of 2026-11-01 (end of day, UTC; from --as-of)" in result.output
    with connect(path, read_only=True) as con:
        row = con.execute(
            "select t.order_count, t.purchase_occasions, t.repeat_frequency, t.total_revenue, t.last_order_at, "
            "t.recency_days, t.customer_age_days, t.avg_order_value, t.days_since_last_order "
            "from main.dim_profile_traits t join main.dim_profiles p using (person_id) where p.email = ?",
            [EMAIL],
        ).fetchone()
        # the generated data runs through the end of its as-of day as well
        last = con.execute("select max(occurred_at) from main.fct_events where source <> 'order'").fetchone()[0]
        occasions = con.execute(
            "select count(*), count(distinct person_id || cast(occasion_at as varchar)) from main.int_orders__occasions"
        ).fetchone()
        rows_vs_days = con.execute(
            "select count(*) from main.dim_profile_traits where order_count > purchase_occasions"
        ).fetchone()[0]
    orders, occ, repeat, revenue, last_order, recency, age, aov, since = row
    assert orders == 3  # 23:59:59 on the as-of day counts; the next midnight does not
    assert last_order == dt.datetime(2026, 11, 1, 23, 59, 59)
    assert revenue == 60.0
    assert (occ, repeat) == (2, 1)  # two orders on 1 November are one purchase occasion
    assert recency == pytest.approx(12.0) and age == pytest.approx(13.0)  # 20 Oct to 1 Nov; to the end of 1 Nov
    assert aov == pytest.approx(30.0) and since == 1  # midnights between the order and the as-of (end of day)
    assert dt.datetime(2026, 11, 1) <= last < dt.datetime(2026, 11, 2)
    assert occasions[0] == occasions[1]  # one row per person and day
    assert rows_vs_days > 0  # the generated data has same-day repeat orders, now counted once


def test_clv_fit_writes_customer_value(edge_warehouse: tuple[Path, str], monkeypatch) -> None:
    path, _ = edge_warehouse
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(path))
    monkeypatch.delenv("OUTFLOW_AS_OF", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["clv", "fit", "--as-of", "2026-11-01", "--holdout-days", "60"])
    assert result.exit_code == 0, result.output
    assert "as of 2026-11-01 (end of day" in result.output and "Holdout" in result.output
    with connect(path, read_only=True) as con:
        n, customers, bad_alive, bad_order = con.execute(
            "select count(*), count(distinct person_id), "
            "count(*) filter (where p_alive < 0 or p_alive > 1), "
            "count(*) filter (where not (expected_purchases_30d <= expected_purchases_90d "
            "and expected_purchases_90d <= expected_purchases_365d)) from main.ml_customer_value"
        ).fetchone()
        buyers = con.execute("select count(*) from main.dim_profile_traits where purchase_occasions > 0").fetchone()[0]
        mine = con.execute(
            "select v.frequency, v.customer_age_days, v.clv > 0, v.expected_spend > 0 from main.ml_customer_value v "
            "join main.dim_profiles p using (person_id) where p.email = ?",
            [EMAIL],
        ).fetchone()
        # the same inputs as the traits compute in SQL
        mismatch = con.execute(
            "select count(*) from main.ml_customer_value v join main.dim_profile_traits t using (person_id) "
            "where v.frequency <> t.repeat_frequency or abs(v.customer_age_days - t.customer_age_days) > 1e-6 "
            "or abs(v.recency_days - t.recency_days) > 1e-6"
        ).fetchone()[0]
    assert n == customers == buyers > 100
    assert bad_alive == 0 and bad_order == 0
    assert mine == (1, pytest.approx(13.0), True, True)
    assert mismatch == 0
    report = runner.invoke(app, ["clv", "report", "--top", "3"])
    assert report.exit_code == 0 and "Top 3 by CLV" in report.output


def test_bad_as_of_is_one_line(edge_warehouse: tuple[Path, str], monkeypatch) -> None:
    path, _ = edge_warehouse
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(path))
    result = CliRunner().invoke(app, ["clv", "fit", "--as-of", "yesterday"])
    assert result.exit_code == 1
    assert "--as-of 'yesterday' is not an ISO date or timestamp" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow  # a real dbt build of the demo warehouse (about a minute)
def test_build_as_of_the_day_before_drops_it(edge_warehouse: tuple[Path, str], monkeypatch) -> None:
    path, _ = edge_warehouse
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(path))
    monkeypatch.setenv("OUTFLOW_AS_OF", "2026-10-31")  # the setting, when no flag is given
    result = CliRunner().invoke(app, ["build", "--select", "int_orders__occasions dim_profile_traits"])
    assert result.exit_code == 0, result.output
    assert "as of 2026-10-31 (end of day, UTC; from OUTFLOW_AS_OF)" in result.output
    with connect(path, read_only=True) as con:
        row = con.execute(
            "select t.order_count, t.purchase_occasions, t.customer_age_days from main.dim_profile_traits t "
            "join main.dim_profiles p using (person_id) where p.email = ?",
            [EMAIL],
        ).fetchone()
    assert row == (1, 1, pytest.approx(12.0))


def test_basket_window_groups_orders_by_time_not_day(edge_warehouse: tuple[Path, str], monkeypatch) -> None:
    """With purchase_basket_window_minutes, orders within the window of the previous one are one occasion."""
    path, _ = edge_warehouse
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(path))

    def occasions(window: int) -> list[tuple]:
        variables = json.dumps({"as_of": "2026-11-02 00:00:00", "purchase_basket_window_minutes": window})
        run_dbt(["run", "--select", "int_orders__occasions", "--vars", variables], warehouse=path)
        with connect(path, read_only=True) as con:
            return con.execute(
                "select o.occasion_at, o.amount, o.orders from main.int_orders__occasions o "
                "join main.dim_profiles p using (person_id) where p.email = ? order by 1",
                [EMAIL],
            ).fetchall()

    # 08:00 and 23:59:59 on 1 November are 16 hours apart: one basket within a day's window, two within an hour's
    assert occasions(24 * 60) == [(dt.datetime(2026, 10, 20, 9), 10.0, 1), (dt.datetime(2026, 11, 1, 8), 50.0, 2)]
    assert [r[2] for r in occasions(60)] == [1, 1, 1]
    assert occasions(0)[-1] == (dt.datetime(2026, 11, 1), 50.0, 2)  # the default: one occasion per calendar day
