from __future__ import annotations

import pytest

from tests.demo_builds import copy_demo
from tests.warehouse_fixtures import TARGETS, Location


@pytest.fixture(scope="module", params=TARGETS)
def ml_warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Location:
    """A private copy of the demo build on each target: these tests write main.ml_lead_scores and a registry."""
    return copy_demo(request, request.param, tmp_path_factory.mktemp("ml"))
