"""A hand-made warehouse for journey tests: the few tables a journey reads (events, segment membership history,
profiles, traits, lead scores), filled by the tests with the people they need. On DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from activations.journeys.spec import Journey, load_journey
from outflow.warehouse import Warehouse
from tests.warehouse_fixtures import TARGETS, Location, new_location

DAY0 = datetime(2026, 3, 2)  # a Monday
SEGMENTS = {"customers", "hot_leads", "lapsed_customers", "engaged_leads"}


class People:
    """Builds the warehouse a journey reads, one hand-made person at a time."""

    def __init__(self, wh: Warehouse, location: Location) -> None:
        self.wh = wh
        self.location = location  # to open it again, or name it in the settings
        self._n = 0
        wh.create_schema("main")
        for table, cols in {
            "fct_events": "event_id varchar, person_id varchar, event_type varchar, occurred_at timestamp, "
            "page_path varchar",
            "segment_membership_history": "person_id varchar, segment varchar, entered_at timestamp, "
            "exited_at timestamp",
            "dim_profiles": "person_id varchar, email varchar, timezone varchar",
            "dim_profile_traits": "person_id varchar, lifecycle_stage varchar",
            "fct_lead_scores": "person_id varchar, lead_score double precision",
        }.items():
            wh.execute(f"create table main.{table} ({cols})")

    def person(self, pid: str, *, tz: str | None = "UTC", score: float = 0, stage: str = "lead") -> str:
        self.wh.execute("insert into main.dim_profiles values (?, ?, ?)", [pid, f"{pid}@example.com", tz])
        self.wh.execute("insert into main.dim_profile_traits values (?, ?)", [pid, stage])
        self.wh.execute("insert into main.fct_lead_scores values (?, ?)", [pid, score])
        return pid

    def event(self, pid: str, event_type: str, day: float, page_path: str | None = None) -> None:
        self._n += 1
        at = DAY0 + timedelta(days=day)
        self.wh.execute(
            "insert into main.fct_events values (?, ?, ?, ?, ?)", [f"e{self._n}", pid, event_type, at, page_path]
        )

    def enters_segment(self, pid: str, segment: str, day: float, left: float | None = None) -> None:
        at = DAY0 + timedelta(days=day)
        out = DAY0 + timedelta(days=left) if left is not None else None
        self.wh.execute("insert into main.segment_membership_history values (?, ?, ?, ?)", [pid, segment, at, out])


def journey(tmp_path: Path, text: str, name: str = "j.yml") -> Journey:
    path = tmp_path / name
    path.write_text(text)
    return load_journey(path, segments=SEGMENTS)


@pytest.fixture(params=TARGETS)
def people(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[People]:
    """A hand-made warehouse on each target: a DuckDB file, or a fresh database on the session's server."""
    loc = new_location(request, tmp_path)
    wh = loc.connect()
    try:
        yield People(wh, loc)
    finally:
        wh.close()
