"""A load is all or nothing: a refused load leaves every raw table exactly as it was, rows past any sampling
limit are validated, errors never print a row's personal data, consent and erasure files gate a load, and the
erasure ledger only grows. Every test runs on a DuckDB file and on a fresh PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outflow.cli import app
from outflow.contract import TABLES
from outflow.errors import OutflowError
from outflow.load import load_directory
from tests.warehouse_fixtures import TARGETS, Location, new_location

SECRET = "planted.person@private-mail.example"
WEB_ROWS = 25_000  # past DuckDB's CSV sniffing sample (20,480 lines)
WEB_HEADER = "event_id,cookie_id,user_id,email,event_type,page_path,occurred_at,received_at\n"


def _web(tag: str, rows: int = 30) -> str:
    return WEB_HEADER + "".join(
        f"{tag}w{i},c{i},,v{i}@example.com,page_view,/pricing,2026-01-01 10:00:00,2026-01-01 10:00:05\n"
        for i in range(rows)
    )


def _dataset(tag: str) -> dict[str, str]:
    """A valid file for every raw table; `tag` makes every key and most values differ between datasets."""
    return {
        "crm_contacts": "contact_id,email,phone,first_name,employee_count,gender,created_at,updated_at\n"
        f"{tag}c1,ann.{tag}@example.com,+4915112345678,Ann,12,f,2025-01-01,2025-06-01\n"
        f"{tag}c2,bob.{tag}@example.com,,Bob,,m,2025-02-01,2025-06-02\n",
        "web_events": _web(tag),
        "email_events": "event_id,email,campaign_id,event_type,bounce_type,occurred_at\n"
        f"{tag}e1,ann.{tag}@example.com,cmp1,open,,2026-01-02 09:00:00\n"
        f"{tag}e2,bob.{tag}@example.com,cmp1,bounce,hard,2026-01-02 09:01:00\n",
        "orders": "order_id,email,phone,user_id,amount,currency,status,ordered_at\n"
        f"{tag}o1,ann.{tag}@example.com,,u1,10.5,EUR,completed,2026-01-02 10:00:00\n"
        f"{tag}o2,bob.{tag}@example.com,,,20,EUR,refunded,2026-01-03\n",
        "consent_events": "event_id,identifier_type,identifier,purpose,channel,status,source,occurred_at\n"
        f"{tag}k1,email,ann.{tag}@example.com,marketing,email,granted,web_form,2025-03-01\n"
        f"{tag}k2,email,bob.{tag}@example.com,marketing,ads,revoked,crm,2025-03-02\n",
        "erasure_requests": "request_id,identifier_type,identifier,requested_at\n"
        f"{tag}r1,email,gone.{tag}@example.com,2026-01-05\n",
    }


def _write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / (name if "." in name else f"{name}.csv")
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def _snapshot(con) -> dict[str, list[tuple]]:
    """Every row of every raw table, the set-aside rows and the dataset date."""
    tables = [*TABLES, "rejected_rows", "dataset_info"]
    return {t: sorted(con.execute(f"select * from raw.{t}").fetchall(), key=repr) for t in tables}


@pytest.fixture(params=TARGETS)
def empty(request, tmp_path) -> Location:
    """An empty warehouse: a DuckDB file, then a fresh PostgreSQL database."""
    return new_location(request, tmp_path)


@pytest.fixture
def warehouse(empty, tmp_path) -> Location:
    """A warehouse holding a first, complete load of dataset `a` (with one row set aside)."""
    first = _dataset("a")
    first["orders"] += "ao3,,,,9,EUR,lost,2026-01-04\n"
    with empty.connect() as con:
        load_directory(con, _write(tmp_path / "a", first), quarantine=True)
        assert con.execute("select count(*) from raw.rejected_rows").fetchall() == [(1,)]
    return empty


def _ragged(files):
    files["web_events"] = _web("b", WEB_ROWS) + f"bbad,c,,{SECRET},page_view,/,2026-01-01\n"
    return WEB_ROWS + 2


def _bad_utf8(files):
    bad = f"bbad,c,,{SECRET},page_\xff_view,/,2026-01-01,2026-01-01\n".encode("latin-1")  # \xff: not UTF-8
    files["web_events"] = _web("b", WEB_ROWS).encode() + bad
    return WEB_ROWS + 2


def _open_quote(files):
    files["web_events"] = _web("b", WEB_ROWS) + f'bbad,c,,"{SECRET},page_view,/,2026-01-01,2026-01-01\n'
    return WEB_ROWS + 2


# each refusal kind breaks one table of an otherwise valid second dataset `b`; tables before it in load order
# (crm_contacts first, erasure_requests last) would be replaced by `b` if the load were not all or nothing
REFUSALS = {
    "missing required column": lambda f: f.update(orders=f["orders"].replace("amount", "value")),
    "bad type": lambda f: f.update(orders=f["orders"] + f"bo3,{SECRET},,,twelve,EUR,completed,2026-01-04\n"),
    "bad enum value": lambda f: f.update(email_events=f["email_events"] + f"be3,{SECRET},c,opened,,2026-01-02\n"),
    "null in a required column": lambda f: f.update(
        consent_events=f["consent_events"] + f"bk3,email,{SECRET},marketing,email,granted,crm,\n"
    ),
    "unreadable file": lambda f: (
        f.pop("orders"),
        f.update({"orders.parquet": b"PAR1 not parquet " + SECRET.encode()}),
    ),
    "garbage csv": lambda f: f.update(erasure_requests=bytes(range(256)) * 40),
    "invalid utf-8 past the sample": _bad_utf8,
    "ragged row past the sample": _ragged,
    "unclosed quote past the sample": _open_quote,
    "missing erasure file": lambda f: f.pop("erasure_requests"),
    "missing consent file": lambda f: f.pop("consent_events"),
    "header-only consent file": lambda f: f.update(consent_events=f["consent_events"].split("\n")[0] + "\n"),
    "header-only erasure file": lambda f: f.update(erasure_requests=f["erasure_requests"].split("\n")[0] + "\n"),
}


def test_the_second_dataset_loads_and_changes_every_table(warehouse, tmp_path):
    """The control for the refusals: unbroken, dataset `b` does change every raw table."""
    with warehouse.connect() as con:
        before = _snapshot(con)
        load_directory(con, _write(tmp_path / "b", _dataset("b")))
        after = _snapshot(con)
    assert all(before[t] != after[t] for t in [*TABLES, "rejected_rows"])
    assert {r[0] for r in after["erasure_requests"]} == {"ar1", "br1"}


@pytest.mark.parametrize("kind", REFUSALS)
def test_a_refused_load_leaves_every_raw_table_as_it_was(warehouse, tmp_path, kind):
    files = _dataset("b")
    REFUSALS[kind](files)
    with warehouse.connect() as con:
        before = _snapshot(con)
        with pytest.raises(OutflowError) as err:
            load_directory(con, _write(tmp_path / "b", files))
        assert _snapshot(con) == before
    message = str(err.value)
    assert "\n" not in message and "nothing was loaded" in message
    assert SECRET not in message


@pytest.mark.parametrize("kind", ["invalid utf-8 past the sample", "ragged row past the sample", "bad type"])
def test_a_bad_row_is_named_by_file_line_and_column(warehouse, tmp_path, kind):
    files = _dataset("b")
    line = REFUSALS[kind](files)
    folder = _write(tmp_path / "b", files)
    with warehouse.connect() as con, pytest.raises(OutflowError) as err:
        load_directory(con, folder)
    web = folder / "web_events.csv"
    expected = {
        "invalid utf-8 past the sample": f"{web}: line {line}, column event_type: not valid UTF-8",
        "ragged row past the sample": f"{web}: line {line}, column received_at: the line has fewer fields",
        "bad type": f"{folder / 'orders.csv'}: line 4, column amount: not a valid double",
    }[kind]
    assert str(err.value).startswith(expected)


def test_a_failure_while_swapping_rolls_back_the_tables_already_replaced(warehouse, tmp_path):
    """Every raw table is valid, but the ground truth, written after them in the same transaction, is not."""
    folder = tmp_path / "b"
    _write(folder / "raw", _dataset("b"))
    _write(folder / "truth" / "people", {"part-0.parquet": b"not parquet"})
    with warehouse.connect() as con:
        before = _snapshot(con)
        with pytest.raises(OutflowError, match="rolled back"):
            load_directory(con, folder)
        assert _snapshot(con) == before


def test_quarantine_sets_aside_unparseable_lines_by_line_without_their_content(warehouse, tmp_path):
    files = _dataset("b")
    web = _web("b", WEB_ROWS).encode()
    web += f"bbad1,c,,{SECRET},page_\xff_view,/,2026-01-01,2026-01-01\n".encode("latin-1")
    web += f"bbad2,c,,{SECRET},page_view,/,2026-01-01\n".encode()
    web += f"bbad3,c,,{SECRET},page_view,/,yesterday,2026-01-01\n".encode()
    web += b"blast,c,,,page_view,/,2026-01-01,2026-01-01\n"
    files["web_events"] = web
    with warehouse.connect() as con:
        result = load_directory(con, _write(tmp_path / "b", files), quarantine=True)
        rejected = con.execute(
            "select row_number, reason from raw.rejected_rows where table_name = 'web_events' order by 1"
        ).fetchall()
        stored = str(con.execute("select * from raw.rejected_rows").fetchall())
        last = con.execute("select count(*) from raw.web_events where event_id = 'blast'").fetchall()
    assert result.rows["web_events"] == WEB_ROWS + 1 and result.rejected["web_events"] == 3
    first = WEB_ROWS + 2  # the type error after two refused lines still gets its own line number
    assert rejected == [
        (first, "column event_type: not valid UTF-8; save the file as UTF-8"),
        (first + 1, "column received_at: the line has fewer fields than the header"),
        (first + 2, "column occurred_at: not a valid timestamp"),
    ]
    assert last == [(1,)]
    assert SECRET not in stored and "yesterday" not in stored


def test_a_load_adds_erasure_requests_and_never_removes_them(empty, tmp_path):
    """Requests A and B, then a full load holding only C: the ledger holds A, B and C."""
    header = "request_id,identifier_type,identifier,requested_at\n"
    first, second = _dataset("x"), _dataset("y")
    first["erasure_requests"] = header + "A,email,a@example.com,2026-01-01\nB,phone,+4915112345678,2026-01-02\n"
    second["erasure_requests"] = header + "C,email,c@example.com,2026-01-03\n"
    with empty.connect() as con:
        load_directory(con, _write(tmp_path / "first", first))
        load_directory(con, _write(tmp_path / "second", second))
        ledger = con.execute("select request_id, identifier from raw.erasure_requests order by 1").fetchall()
    assert ledger == [("A", "a@example.com"), ("B", "+4915112345678"), ("C", "c@example.com")]


def test_the_erasure_ledger_only_grows(warehouse, tmp_path):
    """A: the first load's request. A later load with only C adds C; a changed A keeps the original A."""
    files = _dataset("b")
    files["erasure_requests"] = (
        "request_id,identifier_type,identifier,requested_at\n"
        "ar1,email,someone.else@example.com,2026-02-01\n"  # request ar1 again, changed
        "cr1,email,c@example.com,2026-02-02\n"
        "cr1,email,c.duplicate@example.com,2026-02-03\n"  # the same new request twice: the first line wins
    )
    with warehouse.connect() as con:
        result = load_directory(con, _write(tmp_path / "b", files))
        ledger = sorted(con.execute("select request_id, identifier from raw.erasure_requests").fetchall())
    assert ledger == [("ar1", "gone.a@example.com"), ("cr1", "c@example.com")]
    assert result.erasures_added == 1 and result.erasures_kept == 1


def test_a_declared_empty_source_keeps_the_ledger_and_empties_consent(warehouse, tmp_path):
    files = _dataset("b")
    del files["erasure_requests"], files["consent_events"]
    with warehouse.connect() as con:
        before = _snapshot(con)
        result = load_directory(con, _write(tmp_path / "b", files), allow_empty=["erasure_requests", "consent_events"])
        after = _snapshot(con)
    assert after["erasure_requests"] == before["erasure_requests"] != []
    assert after["consent_events"] == []
    assert result.erasures_added == 0 and set(result.missing_tables) == {"erasure_requests", "consent_events"}


def test_a_gating_refusal_names_the_option_that_declares_it(empty, tmp_path):
    files = _dataset("b")
    del files["erasure_requests"]
    with empty.connect() as con:
        with pytest.raises(OutflowError, match="declare it with --allow-empty erasure_requests"):
            load_directory(con, _write(tmp_path / "b", files))
        with pytest.raises(OutflowError, match="--allow-empty: 'erasure' is not a raw table"):
            load_directory(con, tmp_path / "b", allow_empty=["erasure"])


def _outflow(*args: str, warehouse: Location) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from outflow.cli import run; run()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **warehouse.env(), "COLUMNS": "80"},
    )


def test_cli_refusal_is_one_line_without_personal_data_and_changes_nothing(warehouse, tmp_path):
    files = _dataset("b")
    line = _bad_utf8(files)
    folder = _write(tmp_path / "b", files)
    with warehouse.connect() as con:
        before = _snapshot(con)
    proc = _outflow("load", str(folder), warehouse=warehouse)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "Traceback" not in output and SECRET not in output
    assert len(output.strip().splitlines()) == 1
    assert f"line {line}, column event_type: not valid UTF-8" in output
    with warehouse.connect() as con:
        assert _snapshot(con) == before


def test_cli_declares_an_empty_erasure_source(warehouse, tmp_path, monkeypatch):
    files = _dataset("b")
    del files["erasure_requests"]
    folder = _write(tmp_path / "b", files)
    refused = _outflow("load", str(folder), warehouse=warehouse)
    assert refused.returncode == 1 and "--allow-empty erasure_requests" in refused.stdout
    for name, value in warehouse.env().items():
        monkeypatch.setenv(name, value)
    loaded = CliRunner().invoke(app, ["load", str(folder), "--allow-empty", "erasure_requests"])
    assert loaded.exit_code == 0, loaded.output
    assert "no file for erasure_requests: its ledger is kept" in loaded.output
    with warehouse.connect() as con:
        assert con.execute("select request_id from raw.erasure_requests").fetchall() == [("ar1",)]
