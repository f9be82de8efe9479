"""segment_membership_history is incremental: a later run writes only the people who entered or left."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from outflow.warehouse import connect
from tests.demo_builds import run_dbt_on
from tests.warehouse_fixtures import Location

from .conftest import demo_as_of


def test_incremental_history_records_entries_and_exits(demo_warehouse: Location, tmp_path: Path) -> None:
    wh = demo_warehouse.ref  # a copy of the demo build, on each target
    as_of = demo_as_of(wh)
    con = connect(wh)
    before = con.execute(
        "select membership_id, person_id, segment, entered_at, exited_at from main.segment_membership_history"
    ).fetchall()
    con.close()
    assert before and all(r[4] is None for r in before), "the first build opens one stay per member"

    later = (date.fromisoformat(as_of) + timedelta(days=10)).isoformat()
    # Ten days later the windows have moved: the segments and the history are rebuilt incrementally.
    run_dbt_on(["run", "--select", "path:models/segments"], warehouse=wh, as_of=later)

    con = connect(wh)
    try:
        rows = con.execute(
            "select membership_id, person_id, segment, entered_at, exited_at from main.segment_membership_history"
        ).fetchall()
        current = set(con.execute("select person_id, segment from main.segment_membership").fetchall())
    finally:
        con.close()
    open_stays = {(r[1], r[2]) for r in rows if r[4] is None}
    assert open_stays == current, "open stays must equal current membership"

    old = {(r[1], r[2]): r for r in before}
    later_ts = f"{date.fromisoformat(later) + timedelta(days=1)} 00:00:00"  # a bare as-of date is the end of that day
    exited = [r for r in rows if r[4] is not None]
    entered = [r for r in rows if (r[1], r[2]) not in old]
    stayed = [r for r in rows if (r[1], r[2]) in old and r[4] is None]
    assert exited, "some people leave a segment when the windows move ten days"
    assert all(str(r[4]) == later_ts for r in exited)
    assert all((r[1], r[2]) not in current for r in exited)
    assert all(str(r[3]) == later_ts for r in entered)
    # People who stayed keep their original entered_at: their rows were not rewritten.
    assert all(r[3] == old[(r[1], r[2])][3] for r in stayed)
    # Only changes were written: every old row survives (closed or untouched) plus one row per entry.
    assert len(rows) == len(before) + len(entered)
