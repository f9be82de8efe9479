"""Erasure end to end, through the real CLI against every destination sandbox.

A person is synced to nine destinations; then the sync that sent them to Mailchimp is renamed (its old YAML is
gone), the Salesforce and HubSpot syncs only upsert (they never remove anyone), and the person files an
erasure request. ``outflow privacy erase`` reaches every destination that ever received them, from the run log:
contacts deleted where the vendor has a delete (Mailchimp permanently, Klaviyo, HubSpot GDPR delete, SendGrid,
Salesforce), removed from the ad audiences by the identifiers that were sent (Meta, Google Ads), an erasure
event to the webhook. ``outflow privacy report`` shows it per destination.

The same scenario runs on PostgreSQL in tests/integration/postgres/test_erasure_postgres.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from activations.destinations.mailchimp import subscriber_hash
from activations.hashing import google_hashed_email
from activations.privacy import canonical_email, person_report
from outflow.warehouse import connect
from tests.integration.privacy.conftest import cli, rebuild, sync_spec, write_syncs

EMAIL_MODEL = "sync_lapsed_customers_email"
ADS_MODEL = "sync_lapsed_customers_ads"
SERVICE_MODEL = "sync_customers_service_email"
NAMES = {"first_name": "first_name", "last_name": "last_name"}


def _specs(mailchimp_name: str) -> list[dict[str, Any]]:
    return [
        sync_spec(mailchimp_name, "mailchimp", SERVICE_MODEL, "email", {"email": "email_address",
                  "first_name": "merge_fields.FNAME"}, options={"list_id": "svc1"}, base_path="/3.0"),
        sync_spec("lapsed_klaviyo", "klaviyo", EMAIL_MODEL, "email", {"email": "email", **NAMES},
                  options={"list_id": "VRgFBd", "job_poll_interval_seconds": 0.25}),
        sync_spec("lapsed_hubspot", "hubspot", EMAIL_MODEL, "email", {"email": "email", "first_name": "firstname"},
                  mode="upsert"),
        sync_spec("lapsed_sendgrid", "sendgrid", EMAIL_MODEL, "email", {"email": "email", **NAMES},
                  options={"list_id": "0c3e2f0a-6a51-4c62-9d0e-6b3f2b1d8a11", "job_poll_interval_seconds": 0.25}),
        sync_spec("lapsed_salesforce", "salesforce", EMAIL_MODEL, "person_id",
                  {"person_id": "Outflow_Id__c", "email": "Email", "last_name": "LastName"}, mode="upsert",
                  options={"external_id_field": "Outflow_Id__c"}, obj="Contact"),
        sync_spec("lapsed_meta", "meta_audiences", ADS_MODEL, "person_id",
                  {"email": "EMAIL", "phone": "PHONE", "first_name": "FN", "person_id": "EXTERN_ID"},
                  options={"audience_id": "2385", "default_region": "US"}),
        sync_spec("lapsed_google", "google_ads_customer_match", ADS_MODEL, "email",
                  {"email": "email", "phone": "phone", **NAMES, "country": "country_code",
                   "postal_code": "postal_code"},
                  options={"customer_id": "1234567890", "user_list_id": "555", "job_poll_interval_seconds": 0.25,
                           "developer_token_env": "OUTFLOW_TEST_PRIVACY_GOOGLE_DEV_TOKEN",
                           "legacy_google_ads_api": True}),
        sync_spec("lapsed_webhook", "webhook", EMAIL_MODEL, "person_id", {"email": "email", **NAMES}, mode="upsert"),
    ]  # fmt: skip


def _sha(v: str) -> str:
    return hashlib.sha256(v.strip().lower().encode()).hexdigest()


def _held(sb: dict[str, Any], person: str, email: str) -> dict[str, bool]:
    """Whether each destination holds the person (in any form: member, archived member, contact, record)."""
    e = email.strip().lower()
    kl = sb["klaviyo"].store()["profiles"].values()
    return {
        "mailchimp": subscriber_hash(e) in sb["mailchimp"].store().get("svc1", {}),
        "klaviyo": any(p.get("email") == e for p in kl),
        "hubspot": any(c.get("email") == e for c in sb["hubspot"].store()["contacts"].values()),
        "sendgrid": e in sb["sendgrid"].store()["contacts"],
        "salesforce": person in sb["salesforce"].records("Contact"),
        "meta": _sha(e) in sb["meta_audiences"].members("2385"),
        "google": any(m.get("hashedEmail") == google_hashed_email(e) for m in sb["google_ads_customer_match"].members(
            "customers/1234567890/userLists/555").values()),
        "webhook": person in sb["webhook"].records("contacts"),
    }  # fmt: skip


def _person(warehouse: Path | str) -> tuple[str, str]:
    con = connect(warehouse)
    row = con.execute(
        f"select person_id, email from main.{EMAIL_MODEL} join main.{ADS_MODEL} using (person_id, email) "
        f"join main.{SERVICE_MODEL} using (person_id, email) order by person_id limit 1"
    ).fetchone()
    con.close()
    assert row, "the demo data should have a lapsed customer in the email, ads and service audiences"
    return row[0], row[1]


def _file_erasure(warehouse: Path | str, request_id: str, email: str) -> None:
    con = connect(warehouse)
    con.execute(
        "insert into raw.erasure_requests values (?, 'email', ?, "
        "(select max(requested_at) from raw.erasure_requests) + interval '1 hour')",
        [request_id, f"  {email.upper()} "],
    )
    con.close()


def test_erasure_reaches_every_destination_that_ever_received_the_person(
    warehouse: Path | str, sandboxes: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    person, email = _person(warehouse)
    syncs = tmp_path / "syncs"
    write_syncs(syncs, _specs("service_mailchimp"), sandboxes, monkeypatch)
    first = cli("sync", "run", "--all", "--dir", syncs, "--warehouse", warehouse)
    assert first.exit_code == 0, first.output
    assert all(_held(sandboxes, person, email).values()), _held(sandboxes, person, email)

    # the Mailchimp sync is renamed: its old YAML is gone, the new one starts with no state
    (syncs / "service_mailchimp.yml").unlink()
    write_syncs(syncs, _specs("service_mailchimp_v2")[:1], sandboxes, monkeypatch)
    _file_erasure(warehouse, "e2e-erasure-1", email)
    rebuild(warehouse)
    again = cli("sync", "run", "--all", "--dir", syncs, "--warehouse", warehouse)
    assert again.exit_code == 0, again.output
    held = _held(sandboxes, person, email)
    # a sync removes only where it can: upsert syncs keep the person, and the renamed sync never knew them
    assert held["salesforce"] and held["hubspot"] and held["webhook"] and held["mailchimp"], held

    erase = cli("privacy", "erase", "--warehouse", warehouse)
    assert erase.exit_code == 0, erase.output
    assert not any(_held(sandboxes, person, email).values()), _held(sandboxes, person, email)
    # deleted, not archived or only taken off the list
    assert sandboxes["mailchimp"].stats["rows_deleted"] == 1 and sandboxes["hubspot"].stats["rows_deleted"] == 1
    assert sandboxes["klaviyo"].stats["rows_deleted"] == 1 and sandboxes["sendgrid"].stats["rows_deleted"] == 1
    assert sandboxes["webhook"].stats["rows_erased"] == 1
    con = connect(warehouse)
    logged = con.execute(
        "select sync_name, status, destination_type from outflow_sync.erasure_log where person_id = ? order by 1",
        [person],
    ).fetchall()
    ledger = con.execute("select subject_hash, processed_at from outflow_sync.erasure_ledger "
                         "where request_id = 'e2e-erasure-1'").fetchone()  # fmt: skip
    raw_keys = con.execute(
        "select count(*) from outflow_sync.sync_row_log where key = ? or lower(key) = lower(?)", [email, email]
    ).fetchone()[0]
    con.close()
    assert {r[0] for r in logged} == {
        "service_mailchimp",
        "lapsed_klaviyo",
        "lapsed_hubspot",
        "lapsed_sendgrid",
        "lapsed_salesforce",
        "lapsed_meta",
        "lapsed_google",
        "lapsed_webhook",
    }
    assert all(r[1] == "ok" for r in logged)
    assert ledger[0] == hashlib.sha256(f"email:{canonical_email(email)}".encode()).hexdigest()
    assert ledger[1] is not None
    assert raw_keys == 0  # the run log kept no raw email of the erased person, only its hash

    report = cli("privacy", "report", email, "--warehouse", warehouse)
    assert report.exit_code == 0, report.output
    for name in ("service_mailchimp", "lapsed_meta", "lapsed_salesforce", "lapsed_google"):
        assert name in report.output
    assert "e2e-erasure-1" in report.output
    rep = person_report(email, warehouse=warehouse)  # what the table shows, row by row
    assert rep.person_ids == [person] and len(rep.rows) == 8
    assert all(r.erasure_status == "ok" and r.erased_at is not None for r in rep.rows)
    assert {r.erasure_action for r in rep.rows} == {"delete contact", "remove from audience", "erasure event"}

    # a second run has nothing left to do; the next syncs send no one back
    assert "0 acknowledged" in cli("privacy", "erase", "--warehouse", warehouse).output
    last = cli("sync", "run", "--all", "--dir", syncs, "--warehouse", warehouse)
    assert last.exit_code == 0, last.output
    assert not any(_held(sandboxes, person, email).values())
    unknown = cli("privacy", "report", "nobody-at-all@example.org", "--warehouse", warehouse)
    assert unknown.exit_code == 0 and "nothing known about nobody-at-all@example.org" in unknown.output
