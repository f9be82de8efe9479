from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.sandboxes.spec import specs_dir
from activations.sandboxes.testing import make_audience
from outflow.warehouse import Warehouse, connect

TOKEN_ENV = "OUTFLOW_TEST_VENDOR_TOKEN"
TOKEN = "sandbox-secret-token-0123456789"


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN


@pytest.fixture
def con(tmp_path: Path) -> Iterator[Warehouse]:
    c = connect(tmp_path / "wh.duckdb")
    make_audience(c, rows=200)
    yield c
    c.close()


def need_spec(vendor: str) -> None:
    if not (specs_dir() / vendor).is_dir():
        pytest.skip(f"vendor specs folder {specs_dir() / vendor} is absent (../shared/vendor-specs)")
