"""The privacy scenarios on PostgreSQL, each on its own copy of the session's PostgreSQL parity build
(conftest.py):

- the erasure run of tests/integration/privacy/test_erasure_e2e.py (nine destination sandboxes, a renamed sync,
  upsert-only syncs, ``outflow privacy erase`` and ``privacy report`` through the real CLI with
  ``--warehouse <URL>``, the dbt rebuild after the request);
- the ads opt-out of tests/integration/privacy/test_optout_ads.py (Meta and Google Ads remove a person by the
  hashed identifiers the add carried, after a consent revocation and a dbt rebuild);
- the erasure ledger of tests/integration/privacy/test_missing_erasure_file.py (the Dagster erasure asset
  records a request; after the raw requests are gone and dbt rebuilds, the person is still never sent).

The module's name sorts before test_parity.py, so it copies the first build (as test_delivery_parity.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.demo_builds import Builds
from tests.integration.privacy.conftest import sandboxes  # noqa: F401 - the fixture
from tests.integration.privacy.test_erasure_e2e import (
    test_erasure_reaches_every_destination_that_ever_received_the_person as erasure_scenario,
)
from tests.integration.privacy.test_missing_erasure_file import (
    test_ledger_keeps_suppressing_after_the_request_is_gone as ledger_scenario,
)
from tests.integration.privacy.test_optout_ads import (
    test_optout_removes_from_meta_and_google_by_the_identifiers_sent as optout_scenario,
)
from tests.warehouse_fixtures import fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def copy_url(builds: Builds, postgres_url: str) -> str:
    """A fresh database copied from the session's PostgreSQL parity build, as its URL."""
    return fresh_database(postgres_url, template=builds.pg_url.rsplit("/", 1)[1])


SCENARIOS = {"erasure": erasure_scenario, "optout_ads": optout_scenario, "erasure_ledger": ledger_scenario}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_privacy_scenario_on_postgres(
    scenario: str,
    copy_url: str,
    sandboxes: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    SCENARIOS[scenario](copy_url, sandboxes, tmp_path, monkeypatch)
