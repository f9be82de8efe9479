from __future__ import annotations

import datetime as dt

import polars as pl
from polars.testing import assert_frame_equal

from models_ml.features import build_features, build_training_set, feature_columns, labels_at, load_events

from .conftest import AS_OF

CUTOFF = AS_OF - dt.timedelta(days=60)


def test_features_use_only_events_before_the_cutoff(small_warehouse):
    con = small_warehouse
    before = build_features(con, CUTOFF)
    assert before.height > 0 and "pricing_views_30d" in before.columns
    # Rewrite the future: delete, alter and add events at or after the cutoff, and add a new person
    con.execute("delete from main.fct_events where occurred_at > ? and random() < 0.5", [CUTOFF])
    con.execute(
        "update main.fct_events set event_type = 'click', source = 'email', occurred_at = occurred_at "
        "+ interval 1 day where occurred_at >= ?",
        [CUTOFF],
    )
    con.execute(
        """insert into main.fct_events
           select 'future_' || person_id || '_' || k, person_id, src, et, ?::timestamp + to_days(k::int),
                  '/pricing', null, 999.0
           from main.dim_profiles, range(0, 20) r(k),
                (values ('web', 'page_view'), ('order', 'completed'), ('email', 'click')) v(src, et)""",
        [CUTOFF],
    )
    con.execute(
        "insert into main.fct_events values ('at_cutoff', 'person_00001', 'order', 'completed', ?, null, null, 5.0)",
        [CUTOFF],
    )
    con.execute(
        "insert into main.dim_profiles values ('new_person', 'CEO', 10, 'Software', 'US', ?)",
        [CUTOFF + dt.timedelta(hours=1)],
    )
    after = build_features(con, CUTOFF)
    assert_frame_equal(before, after)


def new_crm_version(con, pid: str, at: dt.datetime, job_title: str, industry: str) -> None:
    """The CRM record of `pid` changed at `at`: close its current version and open a new one."""
    con.execute("update main.dim_profile_history set valid_to = ? where person_id = ? and valid_to is null", [at, pid])
    con.execute(
        "insert into main.dim_profile_history values (?, 'crm_' || ?, ?, 5000, ?, 'DE', ?, null)",
        [pid, pid, job_title, industry, at],
    )


def test_attributes_are_those_known_at_the_cutoff(small_warehouse):
    con = small_warehouse
    before = build_features(con, CUTOFF)
    pid = before.filter(pl.col("seniority") != "c_level")["person_id"][0]
    # a change after the cutoff is invisible at the cutoff, and seen at a later one
    new_crm_version(con, pid, CUTOFF + dt.timedelta(days=1), "Chief Executive Officer", "Aerospace")
    assert_frame_equal(before, build_features(con, CUTOFF))
    later = build_features(con, CUTOFF + dt.timedelta(days=2)).filter(pl.col("person_id") == pid)
    assert later.row(0, named=True)["seniority"] == "c_level"
    assert later.row(0, named=True)["industry"] == "aerospace"
    # a person whose only CRM version starts after the cutoff has no attributes at it
    other = before.filter(pl.col("industry").is_not_null() & (pl.col("person_id") != pid))["person_id"][0]
    con.execute("update main.dim_profile_history set valid_from = ? where person_id = ?", [CUTOFF, other])
    row = build_features(con, CUTOFF).filter(pl.col("person_id") == other).row(0, named=True)
    assert row["industry"] is None and row["employee_count"] is None and row["seniority"] is None


def test_changing_the_past_does_change_features(small_warehouse):
    con = small_warehouse
    before = build_features(con, CUTOFF)
    pid = before["person_id"][0]
    con.execute(
        "insert into main.fct_events values ('past', ?, 'web', 'page_view', ?, '/pricing', null, null)",
        [pid, CUTOFF - dt.timedelta(days=1)],
    )
    after = build_features(con, CUTOFF)
    row = lambda df: df.filter(pl.col("person_id") == pid).row(0, named=True)  # noqa: E731
    assert row(after)["pricing_views_7d"] == row(before)["pricing_views_7d"] + 1


def test_labels_only_from_the_window(small_warehouse):
    con = small_warehouse
    events = load_events(con, before=AS_OF + dt.timedelta(days=1))
    lab = labels_at(events, CUTOFF, 30)
    window = events.filter(
        (pl.col("source") == "order")
        & (pl.col("occurred_at") > CUTOFF)
        & (pl.col("occurred_at") <= CUTOFF + dt.timedelta(days=30))
    )
    assert set(lab["person_id"]) == set(window["person_id"])
    # events before the cutoff never make a label
    shifted = events.with_columns(
        pl.when(pl.col("occurred_at") <= CUTOFF)
        .then(pl.col("occurred_at") - dt.timedelta(days=1))
        .otherwise(pl.col("occurred_at"))
        .alias("occurred_at")
    )
    assert_frame_equal(lab.sort("person_id"), labels_at(shifted, CUTOFF, 30).sort("person_id"))


def test_training_set_stacks_cutoffs(small_warehouse):
    cutoffs = [CUTOFF - dt.timedelta(days=60), CUTOFF - dt.timedelta(days=30), CUTOFF]
    ts = build_training_set(small_warehouse, cutoffs, exclude_customers=True)
    assert ts["cutoff"].n_unique() == 3
    assert ts["label"].sum() > 0
    assert (ts["orders_before"] == 0).all()
    assert "label" not in feature_columns(ts) and "person_id" not in feature_columns(ts)
