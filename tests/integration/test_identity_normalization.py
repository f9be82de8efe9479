"""Normalization, junk patterns and shared values through a real `dbt build`, on hand-made records added to a
small generated dataset: each case would link (or fail to link) the wrong records if its rule broke."""

from __future__ import annotations

from pathlib import Path

import pytest

from outflow.pipeline import build, generate_and_load
from outflow.warehouse import connect

T = "timestamp '2026-10-01 10:00:00'"
CRM = [
    # (contact_id, email, phone, country)
    ("C-ann", "Ann Tester <Ann.Tester@acme-hn.io>", None, "Holland"),
    ("C-es", "luis@hn-es.io", "mob. 612 34 56 78", "España"),
    ("C-ext1", "desk.one@hn-switch.io", "+44 20 7946 0958 ext. 12", "UK"),
    ("C-ext2", "desk.two@hn-switch.io", "+44 20 7946 0958 ext. 34", "UK"),
    ("C-junk1", "email@email.com", "1234567890", "UK"),
    ("C-junk2", "Email@Email.com", "1234567890", "UK"),
    ("C-role1", "info.uk@hn-role.io", None, "Sverige"),
    ("C-role2", "info.uk@hn-role.io", None, "Brasil"),
    ("C-role3", "sales.team@hn-role.io", None, "India"),
    ("C-role4", "admin2@hn-role.io", None, None),
    ("C-bad", "not-an-email", "n/a", "Atlantis"),
    ("C-both", "info@example.com", None, "UK"),  # a junk domain and a role address: the smaller reason
]
WEB = [
    # (event_id, cookie_id, user_id, email)
    ("W-ann", "ck-ann", "u-ann", "\u200bann.tester@acme-hn.io\u00a0"),
    ("W-g1", "ck-g1", "guest", "g.one@hn-guest.io"),
    ("W-g2", "ck-g2", "guest", "g.two@hn-guest.io"),
    ("W-g3", "ck-g3", "Undefined", None),
    ("W-r1", "ck-r1", None, "sales.team@hn-role.io"),
    ("W-r2", "ck-r2", None, "sales.team@hn-role.io"),
]
ORDERS = [
    # (order_id, email, phone)
    ("O-ann", "mailto:ann.tester@acme-hn.io.", None),
    ("O-es", None, "0034 612 34 56 78"),
]
# one device seen with five people's emails: shared by the data, whatever the patterns say
WEB += [(f"W-kiosk{i}", "ck-kiosk", None, f"kiosk{i}@hn-kiosk.io") for i in range(5)]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("identnorm")
    path = tmp / "w.duckdb"
    generate_and_load(60, 11, warehouse=path, data_dir=tmp / "data")
    with connect(path) as wh:
        for contact_id, email, phone, country in CRM:
            wh.execute(
                "insert into raw.crm_contacts (contact_id, email, phone, country, created_at, updated_at) "
                f"values (?, ?, ?, ?, {T}, {T})",
                [contact_id, email, phone, country],
            )
        for event_id, cookie, user, email in WEB:
            wh.execute(
                "insert into raw.web_events (event_id, cookie_id, user_id, email, event_type, page_path, "
                f"occurred_at, received_at) values (?, ?, ?, ?, 'page_view', '/', {T}, {T})",
                [event_id, cookie, user, email],
            )
        for order_id, email, phone in ORDERS:
            wh.execute(
                "insert into raw.orders (order_id, email, phone, user_id, amount, currency, status, ordered_at) "
                f"values (?, ?, ?, null, 10, 'EUR', 'completed', {T})",
                [order_id, email, phone],
            )
    assert build(warehouse=path).success
    return path


def _persons(wh, *records: str) -> dict[str, str | None]:
    marks = ", ".join("?" for _ in records)
    rows = wh.execute(
        f"select record_id, person_id from main.int_identity__record_persons where record_id in ({marks})",
        list(records),
    ).fetchall()
    return {r: dict(rows).get(r) for r in records}


def _block(wh, key: str) -> str | None:
    row = wh.execute("select block_reason from main.int_identity__nodes where identifier_key = ?", [key]).fetchone()
    assert row is not None, key
    return row[0]


def test_wrapped_and_invisible_emails_link(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        persons = _persons(wh, "crm:C-ann", "web:W-ann", "order:O-ann")
    assert persons["crm:C-ann"] is not None and len(set(persons.values())) == 1


def test_labelled_and_00_prefixed_phones_link_in_the_records_country(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        persons = _persons(wh, "crm:C-es", "order:O-es")
        phone = wh.execute("select phone_e164 from main.stg_crm__contacts where contact_id = 'C-es'").fetchone()
    assert phone == ("+34612345678",)
    assert persons["crm:C-es"] is not None and persons["crm:C-es"] == persons["order:O-es"]


def test_switchboard_extensions_are_two_identifiers(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        persons = _persons(wh, "crm:C-ext1", "crm:C-ext2")
        keys = wh.execute(
            "select identifier_value from main.int_identity__occurrences "
            "where record_id in ('crm:C-ext1', 'crm:C-ext2') and identifier_type = 'phone' order by 1"
        ).fetchall()
    assert keys == [("+442079460958;ext=12",), ("+442079460958;ext=34",)]
    assert persons["crm:C-ext1"] != persons["crm:C-ext2"]


def test_junk_values_and_role_variants_never_link(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        assert _block(wh, "user_id:guest") == "junk value"
        assert _block(wh, "user_id:Undefined") == "junk value"  # patterns ignore case
        assert _block(wh, "email:email@email.com") == "junk value"
        assert _block(wh, "phone:+441234567890") == "junk value"
        for address in ("info.uk@hn-role.io", "sales.team@hn-role.io", "admin2@hn-role.io"):
            assert _block(wh, f"email:{address}") == "role account"
        # several patterns match: the smallest of their reasons ('junk value' < 'role account'), whichever comes first
        assert _block(wh, "email:info@example.com") == "junk value"
        guests = _persons(wh, "web:W-g1", "web:W-g2")
        junk = _persons(wh, "crm:C-junk1", "crm:C-junk2")
        roles = _persons(wh, "crm:C-role1", "crm:C-role2", "web:W-r1", "web:W-r2")
    assert guests["web:W-g1"] != guests["web:W-g2"]
    assert junk["crm:C-junk1"] != junk["crm:C-junk2"]
    assert len(set(roles.values())) == 4


def test_a_value_seen_with_many_strong_identifiers_is_shared(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        assert _block(wh, "cookie:ck-kiosk") == "shared: seen with 5 strong identifiers"
        persons = _persons(wh, *(f"web:W-kiosk{i}" for i in range(5)))
        person = wh.execute(
            "select person_id, block_reason from main.int_identity__identifiers "
            "where identifier_key = 'cookie:ck-kiosk'"
        ).fetchone()
    assert len(set(persons.values())) == 5
    assert person == (None, "shared: seen with 5 strong identifiers")


def test_countries_resolve_with_pycountry(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        rows = dict(
            wh.execute(
                "select contact_id, country from main.stg_crm__contacts where contact_id in "
                "('C-ann', 'C-es', 'C-role1', 'C-role2', 'C-role3', 'C-bad')"
            ).fetchall()
        )
    assert rows == {"C-ann": "NL", "C-es": "ES", "C-role1": "SE", "C-role2": "BR", "C-role3": "IN", "C-bad": None}


def test_rejected_values_are_listed_with_their_reason(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        rows = wh.execute(
            "select identifier_type, raw_value, reject_reason from main.identity_rejected_values "
            "where raw_value in ('not-an-email', 'n/a', 'Atlantis') order by 1"
        ).fetchall()
    assert [(t, v) for t, v, _ in rows] == [("country", "Atlantis"), ("email", "not-an-email"), ("phone", "n/a")]
    assert all(reason for _, _, reason in rows)


def test_contacts_and_orders_read_each_phone_as_the_step_parsed_it(warehouse: Path) -> None:
    """stg_crm__contacts and stg_shop__orders (one staging shared with the golden record's daily restage, which
    looks each phone up in its region directly) give every record the phone stg_phones__e164 lists for its raw
    phone, country (an order's: its buyer's) and source."""
    staged = {
        "crm": (
            "select contact_id, phone_e164, phone_extension from main.stg_crm__contacts",
            "select raw.contact_id, phones.phone_e164, phones.phone_extension from raw.crm_contacts as raw "
            "left join main.stg_phones__e164 as phones on phones.source = 'crm' and phones.phone_raw = raw.phone "
            "and phones.country_raw is not distinct from raw.country",
        ),
        "order": (
            "select order_id, phone_e164, phone_extension from main.stg_shop__orders",
            "select raw.order_id, phones.phone_e164, phones.phone_extension from raw.orders as raw "
            "left join main.stg_shop__order_countries as buyers on buyers.order_id = raw.order_id "
            "left join main.stg_phones__e164 as phones on phones.source = 'order' and phones.phone_raw = raw.phone "
            "and phones.country_raw is not distinct from buyers.country_raw",
        ),
    }
    with connect(warehouse) as wh:
        for source, (view, expected) in staged.items():
            for left, right in ((view, expected), (expected, view)):
                differ = wh.execute(f"select count(*) from ({left} except all {right}) as d").fetchone()
                assert differ == (0,), source
            phones = wh.execute(f"select count(phone_e164), count(*) from ({view}) as v").fetchone()
            assert 0 < phones[0] < phones[1], source
        spanish = wh.execute("select phone_e164 from main.stg_shop__orders where order_id = 'O-es'").fetchone()
    assert spanish == ("+34612345678",)
