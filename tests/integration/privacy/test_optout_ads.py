"""An opt-out from ads removes the person from Meta and Google Ads by the identifiers that were sent.

Both syncs add people with several hashed identifiers (Meta: email, phone, first name and the external id in
one row; Google: email, phone and address). The person then revokes ads consent, dbt rebuilds, and the next
sync through the CLI removes them with exactly the identifiers the add carried (recorded in
``outflow_sync.sync_sent``), so the audience no longer holds them. Before, a Meta removal carried only the key
(the external id) and the person stayed in an audience keyed by their hashed email while the log said ok.

The same scenario runs on PostgreSQL in tests/integration/postgres/test_erasure_postgres.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activations.hashing import google_hashed_email
from outflow.load import dataset_as_of
from outflow.warehouse import connect
from tests.integration.privacy.conftest import cli, rebuild, sync_spec, write_syncs

MODEL = "sync_lapsed_customers_ads"
AUDIENCE = "2385"
USER_LIST = "customers/1234567890/userLists/555"


def _syncs() -> list[dict[str, Any]]:
    return [
        sync_spec("ads_meta", "meta_audiences", MODEL, "person_id",
                  {"email": "EMAIL", "phone": "PHONE", "first_name": "FN", "person_id": "EXTERN_ID"},
                  options={"audience_id": AUDIENCE, "default_region": "US"}),
        sync_spec("ads_google", "google_ads_customer_match", MODEL, "email",
                  {"email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name",
                   "country": "country_code", "postal_code": "postal_code"},
                  options={"customer_id": "1234567890", "user_list_id": "555", "job_poll_interval_seconds": 0.25,
                           "developer_token_env": "OUTFLOW_TEST_PRIVACY_GOOGLE_DEV_TOKEN",
                           "legacy_google_ads_api": True, "default_region": "US"}),
    ]  # fmt: skip


def _meta_rows(sb: Any, method: str, extern_id: str) -> list[dict[str, str]]:
    """The rows for this person in the recorded Meta requests of one method, as schema key -> value."""
    out = []
    for r in sb.recorded(method):
        schema = r["body"]["payload"]["schema"]
        for row in r["body"]["payload"]["data"]:
            entry = dict(zip(schema, row, strict=True))
            if entry.get("EXTERN_ID") == extern_id:
                out.append({k: v for k, v in entry.items() if v})
    return out


def _google_ops(sb: Any, verb: str, hashed_email: str) -> list[list[dict[str, Any]]]:
    out = []
    for r in sb.recorded("POST"):
        if r["path"].endswith(":addOperations"):
            for op in r["body"]["operations"]:
                ids = op.get(verb, {}).get("userIdentifiers", [])
                if {"hashedEmail": hashed_email} in ids:
                    out.append(ids)
    return out


def test_optout_removes_from_meta_and_google_by_the_identifiers_sent(
    warehouse: Path | str, sandboxes: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = connect(warehouse)
    person, email = con.execute(
        f"select person_id, email from main.{MODEL} where phone is not null and first_name is not null "
        "order by person_id limit 1"
    ).fetchone()
    as_of = dataset_as_of(con)
    con.close()
    syncs = tmp_path / "syncs"
    write_syncs(syncs, _syncs(), sandboxes, monkeypatch)
    meta, google = sandboxes["meta_audiences"], sandboxes["google_ads_customer_match"]
    first = cli("sync", "run", "ads_meta", "ads_google", "--dir", syncs, "--warehouse", warehouse)
    assert first.exit_code == 0, first.output
    hashed = google_hashed_email(email)
    added = _meta_rows(meta, "POST", person)
    assert len(added) == 1 and len(added[0]) == 4  # email, phone, first name and external id, hashed as sent
    assert added[0]["EMAIL"] in meta.members(AUDIENCE)
    created = _google_ops(google, "create", hashed)
    assert len(created) == 1 and len(created[0]) >= 2  # email and phone at least
    assert hashed in {m.get("hashedEmail") for m in google.members(USER_LIST).values()}

    con = connect(warehouse)
    con.execute(
        "insert into raw.consent_events values ('optout-ads-1', 'email', ?, 'marketing', 'ads', 'revoked', "
        "'preference_center', cast(? as timestamp) - interval '1 hour')",
        [email, as_of],
    )
    con.close()
    rebuild(warehouse)
    again = cli("sync", "run", "ads_meta", "ads_google", "--dir", syncs, "--warehouse", warehouse)
    assert again.exit_code == 0, again.output

    removed = _meta_rows(meta, "DELETE", person)
    assert removed == added  # the removal carried exactly what the add carried
    assert added[0]["EMAIL"] not in meta.members(AUDIENCE)
    assert _google_ops(google, "remove", hashed) == created
    assert hashed not in {m.get("hashedEmail") for m in google.members(USER_LIST).values()}
    con = connect(warehouse)
    log = con.execute(
        "select sync_name, status from outflow_sync.sync_row_log where op = 'remove' and key in (?, ?) order by 1",
        [person, email],
    ).fetchall()
    con.close()
    assert log == [("ads_google", "ok"), ("ads_meta", "ok")]
