"""Helpers for tests, demos and benchmarks: a fixture audience table, a secret, a sync config."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import duckdb
import yaml

from activations.config import SyncConfig, load_sync


def make_secret(seed: bytes = b"outflow-sandbox-key-0001") -> str:
    """A Standard Webhooks secret (whsec_ + base64)."""
    return "whsec_" + base64.b64encode(seed).decode()


def make_audience(con: duckdb.DuckDBPyConnection, name: str = "sync_contacts", rows: int = 1000) -> None:
    """A ``sync_*`` table in schema main: person_id, email, first_name, score, note (note is not mapped)."""
    con.execute(
        f"""CREATE OR REPLACE TABLE main.{name} AS
        SELECT i AS person_id, 'user' || i || '@example.com' AS email, 'name' || i AS first_name,
               (i * 7) % 100 AS score, 'unmapped' AS note
        FROM range({int(rows)}) r(i)"""
    )


def make_triggers(con: duckdb.DuckDBPyConnection, name: str = "trg_welcome", rows: int = 1000) -> None:
    """A ``trg_*`` table in schema main: trigger_id, person_id, email, event_name."""
    con.execute(
        f"""CREATE OR REPLACE TABLE main.{name} AS
        SELECT 'welcome-' || i AS trigger_id, i AS person_id, 'user' || i || '@example.com' AS email,
               'welcome' AS event_name
        FROM range({int(rows)}) r(i)"""
    )


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
