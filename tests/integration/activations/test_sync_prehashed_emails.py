"""Pre-hashed emails (SHA-256, 64 hex characters): valid where the destination hashes the field anyway (Meta
EMAIL, Google Ads email), still set aside as malformed where it sends addresses as they are (webhook)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.engine import make_destination, run_sync
from activations.hashing import sha256
from activations.sandboxes.meta import MetaSandbox
from activations.sandboxes.testing import sync_dict, vendor_sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from data_quality.config import QualityConfig
from outflow.warehouse import Warehouse

TOKEN_ENV, TOKEN = "OUTFLOW_TEST_VENDOR_TOKEN", "sandbox-secret-token-0123456789"
AUD = "23850000000000001"
DIGEST_UPPER = sha256("user3@example.com").upper()  # digests pass through lower-cased
# The engine's own row checks are under test: the quality gate (which would refuse the whole run for the
# malformed addresses planted below) has its email check off here.
NO_EMAIL_CHECK = QualityConfig(disabled=["email_valid"])


@pytest.fixture
def people(any_con: Warehouse) -> Warehouse:
    con = any_con
    con.execute("CREATE TABLE main.sync_people AS SELECT * FROM main.sync_contacts WHERE person_id < 20")
    con.execute(f"UPDATE main.sync_people SET email = '{sha256('user2@example.com')}' WHERE person_id = 2")
    con.execute(f"UPDATE main.sync_people SET email = '{DIGEST_UPPER}' WHERE person_id = 3")
    con.execute(f"UPDATE main.sync_people SET email = '{'a' * 63}' WHERE person_id = 4")  # 63 hex: not a digest
    con.execute("UPDATE main.sync_people SET email = 'not an email' WHERE person_id = 5")
    return con


@pytest.fixture
def meta(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetaSandbox]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with MetaSandbox(token=TOKEN) as sb:
        yield sb


def _invalid(con: Warehouse) -> dict[str, str]:
    return dict(con.execute("SELECT key, reason FROM outflow_sync.sync_invalid_rows").fetchall())  # type: ignore[arg-type]


def test_digests_accepted_where_the_destination_hashes(tmp_path: Path, meta: MetaSandbox, people) -> None:
    d = vendor_sync_dict(
        "meta_audiences", meta.url, source="sync_people", primary_key="person_id",
        fields={"person_id": "EXTERN_ID", "email": "EMAIL"}, options={"audience_id": AUD},
    )  # fmt: skip
    cfg = write_sync(tmp_path / "syncs", d)
    assert cfg.checked_email_columns == ["email"]  # the email check is on, not turned off by the sync
    res = run_sync(cfg, con=people, quality_config=NO_EMAIL_CHECK)
    assert _invalid(people) == {"4": "invalid_email:email", "5": "invalid_email:email"}
    assert (res.acked, res.invalid) == (18, 2)
    emails = {k: m["EMAIL"] for k, m in meta.members(AUD).items()}
    assert emails["2"] == sha256("user2@example.com") and emails["3"] == DIGEST_UPPER.lower()
    assert emails["1"] == sha256("user1@example.com")  # addresses are still hashed by Meta's rules


def test_digests_are_not_addresses_where_the_destination_sends_them_as_is(
    tmp_path: Path, sandbox: WebhookSandbox, people
) -> None:
    cfg = write_sync(tmp_path / "syncs", sync_dict(sandbox.url, source="sync_people"))
    res = run_sync(cfg, con=people, quality_config=NO_EMAIL_CHECK)
    assert res.invalid == 4 and set(_invalid(people)) == {"2", "3", "4", "5"}
    assert "2" not in sandbox.records("contacts")


def test_which_fields_take_digests(tmp_path: Path, sandbox: WebhookSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("OUTFLOW_TEST_DEV_TOKEN", "dev-token")
    meta_d = vendor_sync_dict(
        "meta_audiences", "http://127.0.0.1:1", primary_key="email", fields={"email": "EMAIL"},
        options={"audience_id": AUD},
    )  # fmt: skip
    meta_dest = make_destination(write_sync(tmp_path / "m", meta_d))
    assert meta_dest.accepts_digest("EMAIL") and meta_dest.accepts_digest("PHONE")
    assert not meta_dest.accepts_digest("EXTERN_ID")  # sent as is, never hashed
    g = vendor_sync_dict(
        "google_ads_customer_match", "http://127.0.0.1:1", fields={"email": "email"},
        options={"customer_id": "1", "user_list_id": "2", "developer_token_env": "OUTFLOW_TEST_DEV_TOKEN",
                 "legacy_google_ads_api": True},
    )  # fmt: skip
    google = make_destination(write_sync(tmp_path / "g", g))
    assert google.accepts_digest("email") and not google.accepts_digest("postal_code")
    webhook = make_destination(write_sync(tmp_path / "w", sync_dict(sandbox.url)))
    assert not webhook.accepts_digest("email")
    # a destination can declare its own hashed fields instead of the table in activations.hashing
    monkeypatch.setattr(type(webhook), "hashed_fields", frozenset({"email"}))
    assert webhook.accepts_digest("email")
