"""The real dbt build on the default synthetic mix: identity quality, golden records, traits."""

import pytest

from outflow.identity import warehouse_accuracy
from outflow.warehouse import connect


@pytest.fixture(scope="module")
def con(built_warehouse):
    with connect(built_warehouse) as connection:
        yield connection


def test_identity_meets_quality_bar(con):
    scores = warehouse_accuracy(con)
    assert scores.identifiers > 5000
    assert scores.precision >= 0.99, scores
    assert scores.recall >= 0.98, scores


def test_shared_and_junk_identifiers_never_bridge_people(con):
    rows = dict(
        con.execute(
            "select block_reason, count(*) from main.int_identity__identifiers "
            "where block_reason is not null group by 1"
        ).fetchall()
    )
    assert sum(n for reason, n in rows.items() if reason.startswith("shared:")) > 0  # shared values are detected
    assert rows.get("role account", 0) > 0  # info@company addresses
    assert rows.get("junk value", 0) > 0  # test@test.com and the like
    leaked = con.execute(
        "select count(*) from main.int_identity__identifiers where block_reason is not null and person_id is not null"
    ).fetchall()[0][0]
    assert leaked == 0
    # the truth's shared identifiers (households, role addresses, junk) get no person
    owned = con.execute(
        "select count(*) from truth.shared_identifiers s join main.int_identity__identifiers i "
        "using (identifier_type, identifier_value) where i.person_id is not null"
    ).fetchall()[0][0]
    assert owned == 0


def test_profiles_one_row_per_person_with_golden_fields(con):
    persons = con.execute("select count(distinct person_id) from main.int_identity__identifiers").fetchall()[0][0]
    profiles, with_email, bad_phone, role = con.execute(
        "select count(*), count(email), "
        "count(*) filter (where phone is not null and not regexp_full_match(phone, '\\+[1-9][0-9]{6,14}')), "
        "count(*) filter (where email like 'info@%' or email like 'sales@%') from main.dim_profiles"
    ).fetchall()[0]
    assert profiles == persons
    assert with_email > profiles * 0.5
    assert bad_phone == 0  # every phone is E.164
    assert role == 0  # a shared role address is never a person's email


def test_duplicate_crm_records_merge_and_recent_title_survives(con):
    # duplicates carry the "-D" suffix and a more recent, promoted job title
    rows = con.execute(
        """
        select p.job_title, d.job_title as dup_title
        from main.stg_crm__contacts d
        join main.int_identity__identifiers i on i.identifier_type = 'crm_id' and i.identifier_value = d.contact_id
        join main.dim_profiles p using (person_id)
        where d.contact_id like '%-D'
        """
    ).fetchall()
    assert len(rows) > 10
    assert sum(a == b for a, b in rows) / len(rows) > 0.95


def test_events_timeline_and_traits(con):
    sources = dict(con.execute("select source, count(*) from main.fct_events group by 1").fetchall())
    assert set(sources) == {"web", "email", "order"}
    stages = dict(con.execute("select lifecycle_stage, count(*) from main.dim_profile_traits group by 1").fetchall())
    assert stages.get("customer", 0) > 0 and stages.get("visitor", 0) > 0
    mismatched = con.execute(
        """
        select count(*) from main.dim_profile_traits t
        join (select person_id, count(*) n from main.fct_events where event_type = 'order_completed' group by 1) o
        using (person_id) where t.order_count <> o.n
        """
    ).fetchall()[0][0]
    assert mismatched == 0
