"""Control and holdout groups are recorded with history (audience_holdout_history), incrementally, and stay
stable when a percentage changes: raising it only adds people, lowering it only removes the added ones."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from outflow.warehouse import connect
from tests.demo_builds import run_dbt_on
from tests.warehouse_fixtures import Location

from .conftest import demo_as_of

HISTORY = (
    "select stay_id, person_id, audience, measurement_group, entered_at, exited_at from main.audience_holdout_history"
)


def _end_of(day: str) -> str:
    """A bare as-of date is the end of that day: the next midnight."""
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _rebuild(wh: str, as_of: str, control_pct: float) -> None:
    run_dbt_on(
        [
            "run",
            "--select",
            "int_audience__assignments+",
            "--vars",
            json.dumps({"as_of": as_of, "audience_control_pct": control_pct}),
        ],
        warehouse=wh,
    )


def _state(wh: str) -> tuple[list[tuple], set[tuple[str, str, str]], dict[str, set[str]]]:
    con = connect(wh)
    try:
        rows = con.execute(HISTORY).fetchall()
        current = set(
            con.execute("select person_id, audience, measurement_group from main.audience_holdouts").fetchall()
        )
        synced = {
            a: {r[0] for r in con.execute(f"select person_id from main.sync_{a}").fetchall()}
            for (a,) in con.execute("select audience from main.audience_definitions").fetchall()
        }
    finally:
        con.close()
    return rows, current, synced


def test_control_and_holdout_history_is_incremental_and_stable(demo_warehouse: Location, tmp_path: Path) -> None:
    wh = demo_warehouse.ref  # a copy of the demo build, on each target
    as_of = demo_as_of(wh)

    before, current0, _ = _state(wh)
    assert before and all(r[5] is None for r in before), "the first build opens one stay per group member"
    assert {(r[1], r[2], r[3]) for r in before} == current0
    control0 = {(p, a) for p, a, g in current0 if g == "control"}
    holdout0 = {(p, a) for p, a, g in current0 if g == "holdout"}
    assert control0 and holdout0

    # Day 1: the control group goes from 5 % to 15 %.
    day1 = (date.fromisoformat(as_of) + timedelta(days=1)).isoformat()
    _rebuild(wh, day1, 15)
    rows1, current1, synced1 = _state(wh)
    control1 = {(p, a) for p, a, g in current1 if g == "control"}
    assert control0 < control1, "raising the control share keeps everyone and adds people"
    open1 = {(r[1], r[2], r[3]): r for r in rows1 if r[5] is None}
    assert set(open1) == current1, "open stays are the current groups"
    first = {(r[1], r[2], r[3]): r for r in before}
    for key in control0:
        # Unchanged members keep their original stay (not rewritten).
        assert open1[(*key, "control")][4] == first[(*key, "control")][4]
    for key in control1 - control0:
        assert str(open1[(*key, "control")][4]) == f"{_end_of(day1)} 00:00:00"
    # Holdout members who moved into the control group left the holdout on day 1.
    moved = holdout0 & control1
    assert moved, "some holdout members fall in the larger control group"
    closed1 = {(r[1], r[2], r[3]): r for r in rows1 if r[5] is not None}
    for key in moved:
        assert str(closed1[(*key, "holdout")][5]) == f"{_end_of(day1)} 00:00:00"
    # Only changes were written.
    assert len(rows1) == len(before) + len(current1 - current0)
    # Neither group ever reaches the synced audience.
    for p, a, _g in current1:
        assert p not in synced1[a]

    # Day 2: back to 5 %: exactly the people added on day 1 leave the control group.
    day2 = (date.fromisoformat(as_of) + timedelta(days=2)).isoformat()
    _rebuild(wh, day2, 5)
    rows2, current2, synced2 = _state(wh)
    control2 = {(p, a) for p, a, g in current2 if g == "control"}
    assert control2 == control0
    exited2 = {(r[1], r[2]) for r in rows2 if r[3] == "control" and str(r[5]) == f"{_end_of(day2)} 00:00:00"}
    assert exited2 == control1 - control0
    # Back in the holdout: a new stay, entered on day 2; the first stay stays closed on day 1.
    for key in moved:
        stays = sorted((r for r in rows2 if (r[1], r[2], r[3]) == (*key, "holdout")), key=lambda r: r[4])
        assert len(stays) == 2 and str(stays[0][5]) == f"{_end_of(day1)} 00:00:00" and stays[1][5] is None
        assert str(stays[1][4]) == f"{_end_of(day2)} 00:00:00"
    for p, a, _g in current2:
        assert p not in synced2[a]
