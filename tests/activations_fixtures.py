"""Fixtures shared by the activations unit and integration tests: a webhook sandbox and a small warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.sandboxes.testing import make_audience, make_secret
from activations.sandboxes.webhook import WebhookSandbox
from outflow.warehouse import Warehouse, connect
from tests.warehouse_fixtures import TARGETS, new_location

SECRET_ENV = "OUTFLOW_TEST_WEBHOOK_SECRET"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = make_secret()
    monkeypatch.setenv(SECRET_ENV, value)
    return value


@pytest.fixture
def sandbox(secret: str) -> Iterator[WebhookSandbox]:
    with WebhookSandbox(secret) as sb:
        yield sb


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    with connect(path) as con:
        make_audience(con, rows=500)
    return path


@pytest.fixture
def con(warehouse: Path) -> Iterator[Warehouse]:
    c = connect(warehouse)
    yield c
    c.close()


# ---- both targets ---------------------------------------------------------------------------------------------
WarehouseRef = Path | str
"""A test's warehouse as ``run_sync(warehouse=...)`` takes it: a DuckDB file, or a PostgreSQL URL."""


def open_warehouse(ref: WarehouseRef) -> Warehouse:
    return connect(url=ref) if isinstance(ref, str) else connect(ref)


@pytest.fixture(params=TARGETS)
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseRef:
    """The ``warehouse`` fixture's audience on each target (a DuckDB file, a fresh PostgreSQL database), also
    named by the settings (``OUTFLOW_TARGET`` ...), so the ``outflow`` command and subprocesses use it."""
    loc = new_location(request, tmp_path)
    with loc.connect() as con:
        make_audience(con, rows=500)
    for k, v in loc.env().items():
        monkeypatch.setenv(k, v)
    return loc.path if loc.path is not None else str(loc.url)


@pytest.fixture
def any_con(any_warehouse: WarehouseRef) -> Iterator[Warehouse]:
    c = open_warehouse(any_warehouse)
    yield c
    c.close()
