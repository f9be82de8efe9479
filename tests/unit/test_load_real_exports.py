"""Loading real exports through `outflow load`: dates in common formats, offsets converted to UTC the same way
from CSV and Parquet, enum values in any case, a misnamed file refused with the nearest table, each warning
said once, and an empty consent table called out."""

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from outflow.cli import app
from tests.warehouse_fixtures import TARGETS, Location, new_location

HEADER = "order_id,email,phone,user_id,amount,currency,status,ordered_at\n"
EMPTY = ["--allow-empty", "consent_events,erasure_requests"]


@pytest.fixture(params=TARGETS)
def location(request, tmp_path, monkeypatch) -> Location:
    loc = new_location(request, tmp_path)
    for name, value in loc.env().items():
        monkeypatch.setenv(name, value)
    return loc


def _load(folder: Path, *options: str):
    return CliRunner().invoke(app, ["load", str(folder), *EMPTY, *options])


def _said(result) -> str:
    """What the command printed, and the one-line error `outflow` prints for an OutflowError."""
    return result.output + (str(result.exception) if result.exception else "")


def _orders(location: Location) -> list[tuple]:
    with location.connect() as con:
        return con.execute("select order_id, status, ordered_at from raw.orders order by order_id").fetchall()


def test_compact_iso_offsets_and_enum_case(tmp_path: Path, location: Location) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "orders.csv").write_text(
        HEADER + "o1,a@x.com,,,1,EUR,Completed,19970101\n"
        "o2,a@x.com,,,1,EUR,REFUNDED,19970101T101500\n"
        "o3,a@x.com,,,1,EUR, cancelled ,1997-01-01T10:00:00+02:00\n"
        "o4,a@x.com,,,1,EUR,completed,1997-01-01T10:00:00Z\n"
    )
    result = _load(folder)
    assert result.exit_code == 0, result.output
    assert _orders(location) == [
        ("o1", "completed", datetime(1997, 1, 1)),
        ("o2", "refunded", datetime(1997, 1, 1, 10, 15)),
        ("o3", "cancelled", datetime(1997, 1, 1, 8, 0)),  # +02:00 converted to UTC
        ("o4", "completed", datetime(1997, 1, 1, 10, 0)),
    ]


def test_offsets_are_converted_the_same_way_from_parquet(tmp_path: Path, location: Location) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    stamps = pa.array([datetime(1997, 1, 1, 8, 0)], pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp("us", tz="Europe/Paris")
    )  # 09:00 in Paris, 08:00 UTC
    table = pa.table(
        {
            "order_id": ["p1"],
            "amount": [1.0],
            "currency": ["EUR"],
            "status": ["Completed"],
            "ordered_at": stamps,
        }
    )
    pq.write_table(table, folder / "orders.parquet")
    result = _load(folder)
    assert result.exit_code == 0, result.output
    assert _orders(location) == [("p1", "completed", datetime(1997, 1, 1, 8, 0))]


def test_day_first_and_month_first_dates_need_an_explicit_order(tmp_path: Path, location: Location) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "orders.csv").write_text(HEADER + "o1,a@x.com,,,1,EUR,completed,02/03/1997 10:15\n")
    refused = _load(folder)
    assert refused.exit_code == 1
    assert "not a valid timestamp" in _said(refused) and "--date-order" in _said(refused)
    assert _load(folder, "--date-order", "dmy").exit_code == 0
    assert _orders(location)[0][2] == datetime(1997, 3, 2, 10, 15)
    assert _load(folder, "--date-order", "mdy").exit_code == 0
    assert _orders(location)[0][2] == datetime(1997, 2, 3, 10, 15)


def test_a_file_matching_no_table_is_refused_with_the_nearest_name(tmp_path: Path, location: Location) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "orders.csv").write_text(HEADER + "o1,a@x.com,,,1,EUR,completed,1997-01-01\n")
    (folder / "order.csv").write_text(HEADER)
    result = _load(folder)
    assert result.exit_code == 1
    assert "order.csv: matches no raw table; did you mean 'orders'?" in _said(result)
    assert "nothing was loaded" in _said(result)


def test_warnings_are_said_once_and_an_empty_consent_table_is_called_out(tmp_path: Path, location: Location) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "orders.csv").write_text(HEADER + "o1,a@x.com,,,1,EUR,completed,1997-01-01\n")
    result = _load(folder)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.count("no file for crm_contacts") == 1, result.output
    assert text.count("consent_events is empty") == 1 and "every marketing audience" in text, result.output
