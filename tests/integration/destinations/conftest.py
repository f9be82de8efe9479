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


@pytest.fixture(autouse=True)
def lenient_quality_gate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests plant messy rows (malformed emails, local phone numbers, shrinking audiences) to prove each
    destination's own handling of them; the engine's quality gate, which would refuse such a run wholesale,
    is tested on its own (tests/integration/privacy). Its row checks only warn here; consent and erasure
    stay blocking."""
    path = tmp_path_factory.mktemp("quality") / "quality.yml"
    checks = ("key_not_null", "key_unique", "email_valid", "email_present", "phone_valid", "phone_present",
              "row_count_change")  # fmt: skip
    path.write_text("severity:\n" + "".join(f"  {c}: warn\n" for c in checks))
    monkeypatch.setenv("OUTFLOW_QUALITY_CONFIG", str(path))
