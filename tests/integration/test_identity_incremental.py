"""The identity models that cost what changed: incremental signatures keyed by load time (a late record with a
smaller id renames its signature, a record changed in place leaves its old signature), and nodes whose junk
patterns run only on identifiers not seen before, unless the patterns changed. Through real dbt runs on a copy of
the demo warehouse."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from outflow.build import run_dbt
from outflow.warehouse import connect


@pytest.fixture
def warehouse(built_warehouse: Path, tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    shutil.copy(built_warehouse, path)
    return path


def _rebuild(warehouse: Path) -> None:
    """Restage the web events and rebuild the identity models up to the nodes, incrementally where they are."""
    run_dbt(["run", "--select", "stg_web__events int_identity__signatures int_identity__signature_occurrences "
             "int_identity__pairs int_identity__nodes"], warehouse=warehouse)  # fmt: skip


def _signatures(path: Path) -> set[tuple]:
    with connect(path) as wh:
        wh.execute("checkpoint")  # the file holds every change, so a copy of it does
        return set(wh.execute("select * from main.int_identity__signatures").fetchall())


def test_incremental_signatures_equal_a_full_rebuild(warehouse: Path, tmp_path: Path) -> None:
    with connect(warehouse) as wh:
        newest = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
        # a recent record whose cookie is corrected in place: it leaves its old signature for a new one
        moved = wh.execute(
            "select event_id from raw.web_events where cookie_id is not null order by received_at desc limit 1"
        ).fetchone()[0]
        wh.execute("update raw.web_events set cookie_id = 'ck-corrected' where event_id = ?", [moved])
        # a record arriving late, with a smaller id than every record of its signature: the signature's id changes
        cookie, user, email, first = wh.execute(
            "select cookie_id, user_id, email_canonical, signature_id from main.int_identity__signatures "
            "where source = 'web' and records > 1 and email_canonical is null order by signature_id limit 1"
        ).fetchone()
        wh.execute(
            "insert into raw.web_events select 'A-late', ?, ?, null, 'page_view', '/', ? - interval 40 day, ?",
            [cookie, user, newest, newest],
        )
    _rebuild(warehouse)
    incremental = _signatures(warehouse)
    ids = {row[1] for row in incremental}
    assert "web:A-late" in ids and first not in ids
    assert {(row[1], row[9]) for row in incremental if row[3] == "ck-corrected"} == {(f"web:{moved}", 1)}
    assert min(row[9] for row in incremental) > 0  # no record counted twice, no signature left without records

    full = tmp_path / "full.duckdb"
    shutil.copy(warehouse, full)
    run_dbt(["run", "--select", "int_identity__signatures", "--full-refresh"], warehouse=full)
    assert incremental == _signatures(full)


def test_a_new_junk_value_is_blocked_and_a_pattern_change_checks_every_identifier(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        newest = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
        seen = wh.execute("select count(*) from main.int_identity__nodes where identifier_value = '0000000'")
        assert seen.fetchone()[0] == 0
        wh.execute(
            "insert into raw.web_events values ('W-junk', '0000000', null, null, 'page_view', '/', ?, ?)",
            [newest, newest],
        )
        usable = wh.execute(
            "select identifier_value from main.int_identity__nodes where identifier_type = 'email' "
            "and block_reason is null order by 1"
        ).fetchall()
    email = next(v for (v,) in usable if re.fullmatch(r"[a-z0-9.]+@[a-z0-9.]+", v))
    _rebuild(warehouse)

    def reason(value: str) -> str | None:
        with connect(warehouse) as wh:
            return wh.execute(
                "select block_reason from main.int_identity__nodes where identifier_value = ?", [value]
            ).fetchone()[0]

    assert reason("0000000") == "junk value"  # a new identifier is checked
    assert reason(email) is None
    # an identifier the last build found usable is checked again when the patterns change
    local = email.split("@")[0]
    run_dbt(["run", "--select", "int_identity__nodes", "--vars", json.dumps({"role_account_pattern": f"({local})"})],
            warehouse=warehouse)  # fmt: skip
    assert reason(email) == "role account"
    run_dbt(["run", "--select", "int_identity__nodes"], warehouse=warehouse)
    assert reason(email) is None


def test_a_signatures_table_from_before_it_was_incremental_is_rebuilt_whole(warehouse: Path) -> None:
    expected = _signatures(warehouse)
    with connect(warehouse) as wh:  # the table as a build before incremental signatures left it
        old = [c for c in wh.columns("main", "int_identity__signatures") if c != "loaded_at" and "settled" not in c]
        wh.execute(f"create or replace table main.int_identity__signatures as select {', '.join(old)} "
                   "from main.int_identity__signatures")  # fmt: skip
    _rebuild(warehouse)  # dropped by the on-run-start hook, then built whole: no failure on the missing columns
    assert _signatures(warehouse) == expected
