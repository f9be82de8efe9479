"""Fixtures shared by the activations unit and integration tests: a webhook sandbox and a small warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.sandboxes.testing import make_audience, make_secret
from activations.sandboxes.webhook import WebhookSandbox
from outflow.warehouse import Warehouse, connect

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
