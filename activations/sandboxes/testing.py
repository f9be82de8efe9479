"""Helpers for tests, demos and benchmarks: a fixture audience table, a secret, a sync config."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from activations.config import SyncConfig, load_sync
from outflow.warehouse import Warehouse


def make_secret(seed: bytes = b"outflow-sandbox-key-0001") -> str:
    """A Standard Webhooks secret (whsec_ + base64)."""
    return "whsec_" + base64.b64encode(seed).decode()


def make_audience(con: Warehouse, name: str = "sync_contacts", rows: int = 1000) -> None:
    """A ``sync_*`` table in schema main: person_id, email, first_name, score, note (note is not mapped)."""
    i = pl.int_range(0, int(rows), dtype=pl.Int64, eager=True)
    df = pl.DataFrame({"person_id": i}).with_columns(
        email=pl.format("user{}@example.com", "person_id"),
        first_name=pl.format("name{}", "person_id"),
        score=(pl.col("person_id") * 7) % 100,
        note=pl.lit("unmapped"),
    )
    con.write_arrow(f"main.{name}", df, mode="replace")


def make_triggers(con: Warehouse, name: str = "trg_welcome", rows: int = 1000) -> None:
    """A ``trg_*`` table in schema main: trigger_id, person_id, email, event_name."""
    i = pl.int_range(0, int(rows), dtype=pl.Int64, eager=True)
    df = pl.DataFrame({"person_id": i}).select(
        trigger_id=pl.format("welcome-{}", "person_id"),
        person_id="person_id",
        email=pl.format("user{}@example.com", "person_id"),
        event_name=pl.lit("welcome"),
    )
    con.write_arrow(f"main.{name}", df, mode="replace")


def sync_dict(
    base_url: str,
    *,
    name: str = "contacts_webhook",
    source: str = "sync_contacts",
    mode: str = "mirror",
    secret_env: str = "OUTFLOW_TEST_WEBHOOK_SECRET",
    **overrides: Any,
) -> dict[str, Any]:
    trigger = source.startswith("trg_")
    d: dict[str, Any] = {
        "name": name,
        "source": source,
        "primary_key": "trigger_id" if trigger else "person_id",
        "mode": mode,
        "destination": {
            "type": "webhook",
            "object": "events" if trigger else "contacts",
            "base_url": base_url,
            "secret_env": secret_env,
            "timeout_seconds": 2,
            "max_retries": 4,
            "max_backoff_seconds": 0.5,
        },
        "fields": {"person_id": "personId", "email": "email", "event_name": "event"}
        if trigger
        else {"email": "email", "first_name": "firstName", "score": "score"},
        "schedule": "0 * * * *",
        "batch_size": 100,
    }
    dest = overrides.pop("destination", None)
    if dest:
        d["destination"] = {**d["destination"], **dest}
    d.update(overrides)
    return d


def write_sync(directory: Path, d: dict[str, Any]) -> SyncConfig:
    """Write one sync YAML into ``directory`` and load it back (validated)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{d['name']}.yml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return load_sync(path)


def set_secret(secret: str, env: str = "OUTFLOW_TEST_WEBHOOK_SECRET") -> None:
    os.environ[env] = secret


def vendor_sync_dict(
    dest_type: str,
    base_url: str,
    *,
    name: str | None = None,
    source: str = "sync_contacts",
    primary_key: str = "email",
    mode: str = "mirror",
    fields: dict[str, str] | None = None,
    secret_env: str = "OUTFLOW_TEST_VENDOR_TOKEN",
    options: dict[str, Any] | None = None,
    obj: str = "contacts",
    **overrides: Any,
) -> dict[str, Any]:
    """A sync YAML dict for a vendor destination pointed at a sandbox (short timeouts and backoff)."""
    d: dict[str, Any] = {
        "name": name or f"{dest_type}_sync",
        "source": source,
        "primary_key": primary_key,
        "mode": mode,
        "destination": {
            "type": dest_type,
            "object": obj,
            "base_url": base_url,
            "secret_env": secret_env,
            "timeout_seconds": 2,
            "max_retries": 4,
            "max_backoff_seconds": 0.5,
            "options": options or {},
        },
        "fields": fields or {"email": "email", "first_name": "first_name"},
        "batch_size": 100,
    }
    dest = overrides.pop("destination", None)
    if dest:
        d["destination"] = {**d["destination"], **dest}
    d.update(overrides)
    return d


# destination type -> how tests and the benchmark point a sync at its sandbox: calls per batch (for the
# theoretical ceiling), field mapping, options. Google Ads reads its developer token from the env var
# OUTFLOW_GOOGLE_DEV_TOKEN.
VENDOR_PLANS: dict[str, dict[str, Any]] = {
    # async-job vendors: the upload, then its job polled once (the sandbox finishes a job in 0.2 s, the first
    # poll comes after 0.25 s); several batches in flight so the job wait overlaps the uploads
    "sendgrid": {"calls": 2, "concurrency": 4,
                 "options": {"list_id": "0c3e2f0a-6a51-4c62-9d0e-6b3f2b1d8a11", "job_poll_interval_seconds": 0.25}},
    "klaviyo": {"calls": 2, "concurrency": 4, "options": {"list_id": "Bench1", "job_poll_interval_seconds": 0.25},
                "fields": {"email": "email", "first_name": "first_name", "score": "properties.score"}},
    "hubspot": {"calls": 2, "options": {"list_id": "1"},
                "fields": {"email": "email", "first_name": "firstname", "score": "lead_score"}},
    "meta_audiences": {"calls": 1, "options": {"audience_id": "2385"},
                       "fields": {"email": "EMAIL", "first_name": "FN"}},
    "salesforce": {"calls": 1, "mode": "upsert", "primary_key": "person_id", "obj": "Contact",
                   "options": {"external_id_field": "Outflow_Id__c"},
                   "fields": {"person_id": "Outflow_Id__c", "email": "Email", "first_name": "FirstName"}},
    # create, addOperations, run, then the run's operation polled once (one job per batch, concurrency 1)
    "google_ads_customer_match": {"calls": 4, "fields": {"email": "email", "first_name": "first_name"},
                                  "options": {"customer_id": "1234567890", "user_list_id": "1",
                                              "developer_token_env": "OUTFLOW_GOOGLE_DEV_TOKEN",
                                              "legacy_google_ads_api": True,
                                              "job_poll_interval_seconds": 0.25}},
    "mailchimp": {"calls": 1, "options": {"list_id": "bench1"}, "suffix": "/3.0",
                  "fields": {"email": "email_address", "first_name": "merge_fields.FNAME"}},
    "braze": {"calls": 1, "mode": "insert", "source": "trg_welcome", "primary_key": "trigger_id",
              "fields": {"person_id": "external_id", "event_name": "name", "email": "properties.email"},
              "options": {}},
    "customerio": {"calls": 1, "mode": "insert", "source": "trg_welcome", "primary_key": "trigger_id",
                   "fields": {"person_id": "id", "event_name": "name", "email": "properties.email"},
                   "options": {}},
}  # fmt: skip
