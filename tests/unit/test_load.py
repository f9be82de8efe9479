from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from outflow.cli import app
from outflow.contract import GATING_TABLES, TABLES
from outflow.errors import OutflowError
from outflow.load import load_directory
from tests.warehouse_fixtures import TARGETS, Location, new_location

GOOD_ORDERS = "order_id,email,phone,user_id,amount,currency,status,ordered_at\n" \
    "o1,a@x.com,,u1,10.5,EUR,completed,2026-01-02 10:00:00\n" \
    "o2,b@x.com,+4915112345678,,20,EUR,refunded,2026-01-03\n"  # fmt: skip


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    path.write_text(text)
    return path


@pytest.fixture(params=TARGETS)
def location(request, tmp_path) -> Location:
    """An empty warehouse: a DuckDB file, then a fresh PostgreSQL database."""
    return new_location(request, tmp_path)


@pytest.fixture
def con(location):
    with location.connect() as connection:
        yield connection


def load(con, folder: Path, **options):
    """A load of a folder without consent or erasure files, declared as such."""
    return load_directory(con, folder, allow_empty=GATING_TABLES, **options)


def test_loads_csv_and_fills_missing_tables_empty(tmp_path, con):
    _write(tmp_path, "orders", GOOD_ORDERS)
    result = load(con, tmp_path)
    assert result.rows["orders"] == 2
    assert set(result.missing_tables) == set(TABLES) - {"orders"}
    assert con.execute("select sum(amount) from raw.orders").fetchall()[0][0] == 30.5
    assert con.execute("select count(*) from raw.crm_contacts").fetchall()[0][0] == 0


def test_missing_required_column_names_file_and_column(tmp_path, con):
    path = _write(tmp_path, "orders", GOOD_ORDERS.replace("amount,", "value,"))
    with pytest.raises(OutflowError) as err:
        load(con, tmp_path)
    assert str(path) in str(err.value) and "'amount'" in str(err.value)


def test_wrong_type_names_file_line_and_column_but_no_value(tmp_path, con):
    path = _write(tmp_path, "orders", GOOD_ORDERS + "o3,c@x.com,,,twelve,EUR,completed,2026-01-04\n")
    with pytest.raises(OutflowError) as err:
        load(con, tmp_path)
    message = str(err.value)
    assert f"{path}: line 4, column amount: not a valid double" in message
    assert "twelve" not in message and "c@x.com" not in message


def test_bad_rows_never_get_in_silently_and_quarantine_keeps_reasons(tmp_path, con):
    _write(
        tmp_path,
        "orders",
        GOOD_ORDERS + "o3,c@x.com,,,9,EUR,lost,2026-01-04\n,d@x.com,,,1,EUR,completed,2026-01-05\n",
    )
    with pytest.raises(OutflowError):
        load(con, tmp_path)
    result = load(con, tmp_path, quarantine=True)
    assert result.rows["orders"] == 2 and result.rejected["orders"] == 2
    reasons = dict(con.execute("select row_number, reason from raw.rejected_rows").fetchall())
    assert reasons[4] == "column status: value is not one of completed/refunded/cancelled"
    assert reasons[5] == "column order_id: required value is missing"


def test_parquet_folder_loads(tmp_path, con):
    folder = tmp_path / "orders"
    folder.mkdir()
    pl.read_csv(GOOD_ORDERS.encode(), try_parse_dates=True).write_parquet(folder / "part-0.parquet")
    assert load(con, tmp_path).rows["orders"] == 2


def test_parquet_bad_value_names_the_row(tmp_path, con):
    folder = tmp_path / "orders"
    folder.mkdir()
    frame = pl.read_csv((GOOD_ORDERS + "o3,c@x.com,,,twelve,EUR,completed,2026-01-04\n").encode())
    frame.write_parquet(folder / "part-0.parquet")
    with pytest.raises(OutflowError) as err:
        load(con, tmp_path)
    assert f"{folder / 'part-0.parquet'}: row 3, column amount: not a valid double" in str(err.value)


def test_cli_reports_one_line_not_a_traceback(tmp_path, location):
    _write(tmp_path / "in", "orders", GOOD_ORDERS.replace("amount,", "value,"))
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from outflow.cli import run; run()", "load", str(tmp_path / "in"),
         "--allow-empty", "consent_events,erasure_requests"],
        capture_output=True, text=True, env={**__import__("os").environ, **location.env()},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "missing required column 'amount'" in proc.stdout


def test_cli_load_prints_rows(tmp_path, monkeypatch, location):
    for name, value in location.env().items():
        monkeypatch.setenv(name, value)
    _write(tmp_path / "in", "orders", GOOD_ORDERS)
    result = CliRunner().invoke(
        app, ["load", str(tmp_path / "in"), "--allow-empty", "consent_events", "--allow-empty", "erasure_requests"]
    )
    assert result.exit_code == 0, result.output
    assert "orders" in result.output and "2" in result.output
    assert ("wh.duckdb" if location.path else "postgresql://") in result.output  # where it loaded
    with location.connect() as con:
        assert con.execute("select order_id from raw.orders order by 1").fetchall() == [("o1",), ("o2",)]


def test_a_reload_keeps_the_views_built_on_raw_tables(tmp_path, con):
    """dbt's staging models are views on the raw tables; PostgreSQL refuses to drop a table a view reads, so a
    load empties and refills the tables, and the views see the new rows."""
    _write(tmp_path / "first", "orders", GOOD_ORDERS)
    load(con, tmp_path / "first")
    con.execute("create schema if not exists main")
    con.execute("create view main.stg_orders as select order_id, amount from raw.orders")
    _write(tmp_path / "second", "orders", GOOD_ORDERS.replace("o1,", "o9,").replace("10.5", "1.5"))
    assert load(con, tmp_path / "second").rows["orders"] == 2
    assert con.execute("select order_id, amount from main.stg_orders order by 1").fetchall() == [
        ("o2", 20.0),
        ("o9", 1.5),
    ]


def test_a_raw_table_with_other_columns_is_recreated_unless_views_hold_it(tmp_path, con, location):
    """A raw table whose columns are not the contract's is recreated. PostgreSQL will not drop a table a view reads
    (DuckDB does): there the load is refused in one line that says what to do, and nothing changes."""
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists main")
    con.execute("create table raw.orders (order_id varchar, total double precision)")
    con.execute("insert into raw.orders values ('old', 1.0)")
    con.execute("create view main.stg_orders as select order_id from raw.orders")
    _write(tmp_path, "orders", GOOD_ORDERS)
    if location.target == "duckdb":
        assert load(con, tmp_path).rows["orders"] == 2
        assert list(con.columns("raw", "orders")) == TABLES["orders"].column_names
        return
    with pytest.raises(OutflowError) as err:
        load(con, tmp_path)
    message = str(err.value)
    assert "\n" not in message and "raw.orders has columns order_id, total" in message
    assert "other objects depend on it" in message and "nothing was loaded" in message
    assert con.execute("select * from raw.orders").fetchall() == [("old", 1.0)]
    assert not con.table_exists("raw", "crm_contacts")  # the tables before it were rolled back too
