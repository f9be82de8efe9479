from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.sandboxes.spec import COMMITTED, specs_dir
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


def need_spec(vendor: str, *files: str) -> None:
    """Skip unless the vendor's documents are on this machine (local vendor-specs folder, or committed test
    data), naming the files to put where."""
    roots = [r / vendor for r in (specs_dir(), COMMITTED)]
    if not any(r.is_dir() and all((r / f).is_file() for f in files) for r in roots):
        want = ", ".join(files) or "its documents"
        pytest.skip(f"{vendor} spec absent: put {want} in {specs_dir() / vendor} (env OUTFLOW_VENDOR_SPECS)")


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
