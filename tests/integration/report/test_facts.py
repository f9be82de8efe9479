"""The report's facts (`outflow report`, `outflow audience export`, `outflow person explain`) are portable SQL:
the same small marts on DuckDB and on PostgreSQL give the same audience sizes, members and person facts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from outflow.report import facts
from outflow.warehouse import Warehouse
from tests.warehouse_fixtures import TARGETS, new_location

T = dt.datetime(2026, 11, 1, 9, 0)


@pytest.fixture(params=TARGETS)
def marts(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    con = new_location(request, tmp_path).connect()
    con.create_schema("main")
    tables = {
        "audience_exposure_history": pl.DataFrame({
            "stay_id": ["s1", "s2", "s3", "s4"], "person_id": ["p_a", "p_b", "p_b", "p_c"],
            "audience": ["vip", "vip", "vip", "vip"],
            "measurement_group": ["treatment", "treatment", "treatment", "holdout"],
            "entered_at": [T, T, T + dt.timedelta(days=2), T],
            "exited_at": [None, T + dt.timedelta(days=1), None, None],
        }),
        "int_audience__activation": pl.DataFrame({
            "audience": ["vip", "vip"], "channel": ["email", "email"], "purpose": ["marketing", "marketing"],
            "person_id": ["p_a", "p_b"], "email": ["a@example.com", "b@example.com"], "first_name": ["A", "B"],
            "last_name": ["Aa", "Bb"], "country": ["FR", "DE"], "lifecycle_stage": ["customer", "lead"],
        }),
        "dim_profiles": pl.DataFrame(
            {"person_id": ["p_a", "p_b", "p_c"], "email": ["a@example.com", "b@example.com", None]}
        ),
        "segment_membership_history": pl.DataFrame({
            "membership_id": ["m1"], "person_id": ["p_a"], "segment": ["customers"], "entered_at": [T],
            "exited_at": [None],
        }, schema_overrides={"exited_at": pl.Datetime("us")}),
        "dim_consent": pl.DataFrame({
            "person_id": ["p_a"], "channel": ["email"], "purpose": ["marketing"], "status": ["granted"],
            "decided_at": [T], "source": ["web_form"],
        }),
    }  # fmt: skip
    for name, frame in tables.items():
        con.write_arrow(f"main.{name}", frame, mode="replace")
    yield con
    con.close()


def test_audiences_members_and_a_person(marts: Warehouse, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(tmp_path))  # no declared sync
    assert facts.audiences(marts) == ["vip"]
    sizes = facts.audience_sizes(marts)
    assert [(str(r["day"]), r["members"]) for r in sizes.iter_rows(named=True)] == [
        ("2026-11-01", 2),  # a and b enter (c is in the holdout: not counted)
        ("2026-11-02", 1),  # b leaves
        ("2026-11-03", 2),  # b comes back
    ]
    members = facts.audience_members(marts, "vip")
    assert members["person_id"].to_list() == ["p_a", "p_b"] and members.columns == list(facts.MEMBER_COLUMNS)
    with pytest.raises(facts.OutflowError, match="did you mean 'vip'"):
        facts.audience_members(marts, "vipp")
    a = facts.person(marts, "p_a")
    assert a.segments.rows()[0][0] == "customers"
    assert a.audiences.select("audience", "group").rows() == [("vip", "treatment")]
    assert a.consent.select("channel", "status").rows() == [("email", "granted")]
    assert a.deliveries.height == 0 and a.scores is None
    with pytest.raises(facts.OutflowError, match="no person 'p_zz'"):
        facts.person(marts, "p_zz")
