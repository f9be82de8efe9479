"""Erasure requests and the global exclusion list are normalized exactly as the identity graph normalizes the
sources, through a real `dbt build`: a request or an exclusion written the way people write addresses and
numbers ("Name <x@y>", "mailto:", invisible spaces, "tel:", punctuation) still finds its person. If either took
a rougher normalization of its own, these persons would stay in audiences and at destinations."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from activations.privacy import canonical_email
from outflow.cli import app
from outflow.pipeline import build, generate_and_load
from outflow.warehouse import connect

T = "timestamp '2026-10-01 10:00:00'"
CRM = [
    # (contact_id, email, phone, country): the way the CRM holds them
    ("C-wrap", "wrapped.erase@hn-priv.io", None, "US"),
    ("C-mailto", "other.erase@hn-priv.io", None, "US"),
    ("C-phone", "phone.erase@hn-priv.io", "+1 617 200 0042", "US"),
    ("C-rival", "Rival Person <Competitor@Rival.example>", None, "US"),  # the seed holds competitor@rival.example
    # the seed holds "(202) 555-0100": no country code, so it is read in the default region (US)
    ("C-fraud", "fraud.person@hn-priv.io", "202.555.0100", "US"),
]
ERASURES = [
    # (request_id, identifier_type, identifier): the way a request form or a support agent writes them
    ("R-wrap", "email", "Wrapped Erase <Wrapped.Erase@HN-Priv.io>"),
    ("R-mailto", "email", "\u00a0mailto:other.erase@hn-priv.io\u200b"),
    ("R-phone", "phone", "tel: (617) 200-0042"),
    ("R-bad", "email", "not-an-email"),
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("privforms")
    path = tmp / "w.duckdb"
    generate_and_load(40, 17, warehouse=path, data_dir=tmp / "data")
    with connect(path) as wh:
        wh.executemany(
            "insert into raw.crm_contacts (contact_id, email, phone, country, created_at, updated_at) "
            f"values (?, ?, ?, ?, {T}, {T})",
            CRM,
        )
        wh.executemany(
            "insert into raw.erasure_requests (request_id, identifier_type, identifier, requested_at) "
            f"values (?, ?, ?, {T})",
            ERASURES,
        )
    assert build(warehouse=path).success
    return path


def _person(wh, record_id: str) -> str:
    (person,) = wh.execute(
        "select person_id from main.int_identity__record_persons where record_id = ?", [f"crm:{record_id}"]
    ).fetchone()
    assert person is not None
    return person


def test_requests_take_the_identity_graphs_values(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as wh:
        values = dict(
            wh.execute("select request_id, identifier_value from main.stg_privacy__erasure_requests").fetchall()
        )
    assert values["R-wrap"] == "wrapped.erase@hn-priv.io"
    assert values["R-mailto"] == "other.erase@hn-priv.io"
    assert values["R-phone"] == "+16172000042"
    assert values["R-bad"] is None
    # the ledger's subject of a request is computed in Python from the same rules
    assert canonical_email(ERASURES[0][2]) == values["R-wrap"]
    assert canonical_email(ERASURES[1][2]) == values["R-mailto"]


def test_written_forms_erase_their_persons(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as wh:
        erased = {r[0] for r in wh.execute("select person_id from main.erased_persons").fetchall()}
        for contact in ("C-wrap", "C-mailto", "C-phone"):
            assert _person(wh, contact) in erased, contact
        assert _person(wh, "C-rival") not in erased


def test_a_request_normalization_rejects_is_listed_with_its_reason(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as wh:
        rows = wh.execute(
            "select reject_reason from main.identity_rejected_values "
            "where identifier_type = 'email' and raw_value = 'not-an-email'"
        ).fetchall()
    assert rows and "no @" in rows[0][0]


def test_the_exclusion_list_matches_written_forms(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as wh:
        excluded = dict(wh.execute("select person_id, reasons from main.excluded_persons").fetchall())
        assert "competitor" in excluded[_person(wh, "C-rival")]
        assert "fraud" in excluded[_person(wh, "C-fraud")]
        assert _person(wh, "C-wrap") not in excluded
        rejected = wh.execute(
            "select count(*) from main.identity_rejected_values where raw_value like '%555%0100%'"
        ).fetchone()[0]
    assert rejected == 0  # the seed's phone parses


def test_the_erasure_run_names_requests_it_cannot_record(warehouse: Path) -> None:
    out = CliRunner().invoke(app, ["privacy", "erase", "--record-only", "--warehouse", str(warehouse)])
    assert out.exit_code == 0, out.output
    assert "3 new request(s) recorded" in out.stdout, out.stdout
    assert "1 erasure request(s) not recorded" in out.stdout and "(R-bad)" in out.stdout, out.stdout
    with connect(warehouse, read_only=True) as wh:
        kept = wh.execute("select identifier from raw.erasure_requests where request_id = 'R-bad'").fetchone()
    assert kept == ("not-an-email",)  # nothing is lost: it waits in the raw table
