"""Fixtures for the privacy end-to-end tests: a copy of the built warehouse, every destination sandbox on
127.0.0.1, sync YAMLs pointed at them, the real ``outflow`` CLI and a dbt rebuild after raw data changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from typer.testing import CliRunner, Result

from activations.config import SyncConfig, load_sync
from activations.sandboxes import start_all
from activations.sandboxes.testing import make_secret
from outflow.build import PG_ENV, run_dbt
from outflow.cli import app
from outflow.load import dataset_as_of
from outflow.phones import normalize_emails, normalize_phones
from outflow.warehouse import connect
from tests.integration.quality.conftest import quality_db, quality_pg_template, quality_template, sandbox  # noqa: F401
from tests.integration.segments.conftest import copy_warehouse

WEBHOOK_ENV = "OUTFLOW_TEST_PRIVACY_WEBHOOK_SECRET"


@pytest.fixture
def warehouse(built_warehouse: Path, tmp_path: Path) -> Path:
    path = tmp_path / "privacy.duckdb"
    copy_warehouse(built_warehouse, path)
    return path


@pytest.fixture
def sandboxes() -> Iterator[dict[str, Any]]:
    started = start_all(token="privacy-sandbox-token-0123", webhook_secret=make_secret(b"privacy-e2e-key-000001"))
    try:
        yield started
    finally:
        for sb in started.values():
            sb.stop()


def write_syncs(
    directory: Path, specs: list[dict[str, Any]], sandboxes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, SyncConfig]:
    """Write each sync YAML with its base URL pointed at the sandbox of its type (keeping the URL's path), and
    put the sandbox's credentials in the environment."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for spec in specs:
        d = yaml.safe_load(yaml.safe_dump(spec))
        kind = d["destination"]["type"]
        sb = sandboxes[kind]
        path = urlsplit(d["destination"]["base_url"]).path
        d["destination"]["base_url"] = urlunsplit(urlsplit(sb.url)._replace(path=path))
        d["destination"].update({"timeout_seconds": 5, "max_retries": 3, "max_backoff_seconds": 0.5})
        (directory / f"{d['name']}.yml").write_text(yaml.safe_dump(d, sort_keys=False))
        cfg = load_sync(directory / f"{d['name']}.yml")
        for k, v in sb.credentials(cfg).items():
            monkeypatch.setenv(k, v)
        out[cfg.name] = cfg
    return out


def cli(*args: str) -> Result:
    """The real ``outflow`` command line, in process."""
    return CliRunner().invoke(app, [str(a) for a in args])


def rebuild(warehouse: Path | str) -> None:
    """Rebuild everything downstream of the consent and erasure inputs (activation models included), on a
    DuckDB file or a PostgreSQL database (its URL), after the normalization step has read their new emails and
    phones (as `outflow build` does between its dbt parts)."""
    con = connect(warehouse)
    as_of = dataset_as_of(con)
    normalize_phones(con)
    normalize_emails(con)
    con.close()
    select = ["run", "--select", "stg_consent__events+ stg_privacy__erasure_requests+"]
    if isinstance(warehouse, Path):
        run_dbt(select, warehouse=warehouse, as_of=as_of)
        return
    with pytest.MonkeyPatch.context() as mp:  # dbt's target comes from the settings; restore them after
        mp.setenv("OUTFLOW_TARGET", "postgres")
        mp.setenv("OUTFLOW_POSTGRES_URL", warehouse)
        for var in PG_ENV.values():
            mp.setenv(var, "")
        run_dbt(select, as_of=as_of)


def sync_spec(
    name: str,
    kind: str,
    source: str,
    primary_key: str,
    fields: dict[str, str],
    mode: str = "mirror",
    options: dict[str, Any] | None = None,
    obj: str = "contacts",
    base_path: str = "",
) -> dict[str, Any]:
    """A sync YAML dict; ``write_syncs`` points its base URL at the sandbox of its type."""
    secret_env = WEBHOOK_ENV if kind == "webhook" else f"OUTFLOW_TEST_PRIVACY_{kind.upper()}_TOKEN"
    return {
        "name": name,
        "source": source,
        "primary_key": primary_key,
        "mode": mode,
        "destination": {
            "type": kind,
            "object": obj,
            "base_url": f"http://127.0.0.1:1{base_path}",
            "secret_env": secret_env,
            "options": options or {},
        },  # fmt: skip
        "fields": fields,
    }
