"""Reconciliation: ``outflow sync reconcile NAME`` compares what a destination holds with the sync's state
and model, and repairs drift: members left behind by a renamed sync are removed, and state rows the
destination lost are cleared so that the next run sends them again (Mailchimp list members, Klaviyo list
profiles, a SendGrid list export, HubSpot list memberships, Salesforce records carrying the external id, each
read through the vendor's API; HubSpot and Salesforce answer in pages smaller than the audience, so the listing
must follow their paging to the end). Every case runs on DuckDB and on PostgreSQL, the command line given the
warehouse as a file or a ``postgresql://`` URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activations.config import load_sync
from activations.privacy import reconcile
from activations.sandboxes.hubspot import HubSpotSandbox
from activations.sandboxes.klaviyo import KlaviyoSandbox
from activations.sandboxes.mailchimp import MailchimpSandbox
from activations.sandboxes.salesforce import SalesforceSandbox
from activations.sandboxes.sendgrid import SendGridSandbox
from activations.sandboxes.testing import make_audience, vendor_sync_dict, write_sync
from outflow.warehouse import connect
from tests.integration.privacy.conftest import cli
from tests.warehouse_fixtures import TARGETS, new_location

TOKEN_ENV = "OUTFLOW_TEST_RECONCILE_TOKEN"
SF_FIELDS = {"email": "Outflow_Id__c", "first_name": "FirstName"}
# kind -> (sandbox class, its options, URL suffix, sync options, field mapping, destination type)
VENDORS = {
    "mailchimp": (MailchimpSandbox, {}, "/3.0", {"list_id": "rec1"},
                  {"email": "email_address", "first_name": "merge_fields.FNAME"}, "mailchimp"),
    "klaviyo": (KlaviyoSandbox, {}, "", {"list_id": "Rec1", "job_poll_interval_seconds": 0.25},
                {"email": "email", "first_name": "first_name"}, "klaviyo"),
    "sendgrid": (SendGridSandbox, {}, "", {"list_id": "0c3e2f0a-6a51-4c62-9d0e-6b3f2b1d8a11",
                                           "job_poll_interval_seconds": 0.25},
                 {"email": "email", "first_name": "first_name"}, "sendgrid"),
    "hubspot": (HubSpotSandbox, {"memberships_page_size": 6}, "", {"list_id": "7"},
                {"email": "email", "first_name": "firstname"}, "hubspot"),
    "salesforce": (SalesforceSandbox, {"query_page_size": 6}, "",
                   {"external_id_field": "Outflow_Id__c", "on_remove": "delete"}, SF_FIELDS, "salesforce"),
    "salesforce_clear": (SalesforceSandbox, {"query_page_size": 6}, "",
                         {"external_id_field": "Outflow_Id__c", "on_remove": "clear"}, SF_FIELDS, "salesforce"),
}  # fmt: skip


def _held(sb: Any, kind: str, list_id: str) -> set[str]:
    if kind == "mailchimp":
        return {e for e, m in sb.members(list_id).items() if m["status"] != "archived"}
    if kind.startswith("salesforce"):  # records carrying the external id (a cleared record has no FirstName)
        return {k for k, r in sb.records("Contact").items() if r.get("FirstName") is not None}
    return set(sb.list_members(list_id))  # Klaviyo, SendGrid, HubSpot: email -> profile/contact on the list


def _lose(sb: Any, kind: str, list_id: str, emails: tuple[str, ...]) -> None:
    """The destination loses these members behind the sync's back."""
    if kind.startswith("salesforce"):
        for e in emails:
            sb.delete_out_of_band("Contact", e)
        return
    with sb.lock:
        if kind == "mailchimp":
            lst = sb.lists[list_id]
            for h in [h for h, m in lst.items() if m["email_address"] in emails]:
                del lst[h]
        elif kind == "klaviyo":
            sb.lists[list_id] -= {sb.by_email[e] for e in emails}
        elif kind == "hubspot":
            sb.lists[list_id] -= {rid for rid in sb.lists[list_id] if sb.contacts[rid]["email"] in emails}
        else:
            sb.lists[list_id] -= {sb.contacts[e]["id"] for e in emails}


@pytest.fixture(params=TARGETS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """An empty warehouse: a DuckDB file, or a fresh database's URL (what ``--warehouse`` takes)."""
    where = new_location(request, tmp_path)
    return where.path or str(where.url)


@pytest.mark.parametrize("kind", sorted(VENDORS))
def test_reconcile_repairs_a_renamed_sync_and_lost_state(
    kind: str, warehouse: Path | str, tmp_path: Path, monkeypatch
) -> None:
    cls, sb_options, suffix, options, fields, dest_type = VENDORS[kind]
    list_id = str(options.get("list_id"))
    con = connect(warehouse)
    make_audience(con, rows=20)
    con.close()
    monkeypatch.setenv(TOKEN_ENV, "reconcile-token-0123456789")
    syncs = tmp_path / "syncs"
    with cls(token="reconcile-token-0123456789", **sb_options) as sb:

        def declare(name: str) -> None:
            obj = "Contact" if dest_type == "salesforce" else "contacts"
            d = vendor_sync_dict(dest_type, sb.url + suffix, name=name, fields=fields, options=options,
                                 secret_env=TOKEN_ENV, obj=obj)  # fmt: skip
            write_sync(syncs, d)

        declare("members_v1")
        assert cli("sync", "run", "members_v1", "--dir", syncs, "--warehouse", warehouse).exit_code == 0
        assert len(_held(sb, kind, list_id)) == 20
        # renamed: the old YAML is gone and the new name starts with no state; three people leave the model
        (syncs / "members_v1.yml").unlink()
        declare("members_v2")
        con = connect(warehouse)
        con.execute("delete from main.sync_contacts where person_id in (0, 1, 2)")
        con.close()
        assert cli("sync", "run", "members_v2", "--dir", syncs, "--warehouse", warehouse).exit_code == 0
        left_behind = {"user0@example.com", "user1@example.com", "user2@example.com"}
        assert left_behind <= _held(sb, kind, list_id)  # the renamed sync never removes them

        dry = cli("sync", "reconcile", "members_v2", "--dry-run", "--dir", syncs, "--warehouse", warehouse)
        assert dry.exit_code == 0, dry.output
        assert left_behind <= _held(sb, kind, list_id)  # a dry run repairs nothing
        fixed = cli("sync", "reconcile", "members_v2", "--dir", syncs, "--warehouse", warehouse)
        assert fixed.exit_code == 0, fixed.output
        assert _held(sb, kind, list_id) == {f"user{i}@example.com" for i in range(3, 20)}

        # lost at the destination: two members vanish there while the state still says they are held
        _lose(sb, kind, list_id, ("user5@example.com", "user6@example.com"))
        assert cli("sync", "run", "members_v2", "--dir", syncs, "--warehouse", warehouse).exit_code == 0
        assert "user5@example.com" not in _held(sb, kind, list_id)  # the diff alone never notices
        assert cli("sync", "reconcile", "members_v2", "--dir", syncs, "--warehouse", warehouse).exit_code == 0
        con = connect(warehouse)
        state = {r[0] for r in con.execute("select key from outflow_sync.sync_state where sync_name = 'members_v2'")
                 .fetchall()}  # fmt: skip
        con.close()
        assert "user5@example.com" not in state and "user7@example.com" in state
        assert cli("sync", "run", "members_v2", "--dir", syncs, "--warehouse", warehouse).exit_code == 0
        assert _held(sb, kind, list_id) == {f"user{i}@example.com" for i in range(3, 20)}
        # repaired: no drift is left (a Salesforce record cleared by the repair no longer counts as held)
        drift = reconcile(load_sync(syncs / "members_v2.yml"), warehouse=warehouse, dry_run=True)
        assert (drift.held, drift.removed_keys, drift.cleared_keys) == (17, [], [])


CANNOT = {
    "meta_audiences": ({"fields": {"email": "EMAIL"}, "options": {"audience_id": "2385"}}, "cannot list what it holds"),
    # an upsert sync never says how a record leaves Salesforce: reconciliation cannot remove, so it refuses
    "salesforce": ({"fields": SF_FIELDS, "options": {"external_id_field": "Outflow_Id__c"}, "mode": "upsert",
                    "obj": "Contact"}, "destination.options.on_remove"),
}  # fmt: skip


@pytest.mark.parametrize("dest_type", sorted(CANNOT))
def test_reconcile_refuses_what_it_cannot_reconcile(dest_type: str, tmp_path: Path, monkeypatch) -> None:
    spec, message = CANNOT[dest_type]
    monkeypatch.setenv(TOKEN_ENV, "whsec_" + "QUJD" * 8)
    con = connect(tmp_path / "w.duckdb")
    make_audience(con, rows=3)
    con.close()
    d = vendor_sync_dict(dest_type, "http://127.0.0.1:9", name="cannot_list", secret_env=TOKEN_ENV, **spec)
    write_sync(tmp_path / "syncs", d)
    out = cli("sync", "reconcile", "cannot_list", "--dir", tmp_path / "syncs", "--warehouse", tmp_path / "w.duckdb")
    assert out.exit_code == 1 and message in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1, out.output
