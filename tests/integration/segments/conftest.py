"""Fixtures for segment/audience/trigger tests on the real built warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from outflow.load import dataset_as_of
from outflow.warehouse import Warehouse, connect
from tests.demo_builds import copy_demo, copy_duckdb, run_dbt_on
from tests.warehouse_fixtures import TARGETS


def sync_models(con: Warehouse) -> dict[str, tuple[str, str, bool]]:
    """sync_<audience> -> (channel, purpose, is_transactional) from audience_definitions."""
    rows = con.execute("select audience, channel, purpose, is_transactional from main.audience_definitions").fetchall()
    return {f"sync_{a}": (c, p, t) for a, c, p, t in rows}


def trigger_models(con: Warehouse) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'main' "
        "and table_name like 'trg\\_%' escape '\\' order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def copy_warehouse(built_warehouse: Path, dest: Path) -> str:
    """Copy the built DuckDB warehouse to ``dest`` (checkpointed first); return the dataset's as-of date."""
    copy_duckdb(built_warehouse, dest)
    with connect(dest) as con:
        return dataset_as_of(con)


def demo_as_of(ref: str) -> str:
    """The as-of date of the demo dataset in the warehouse ``ref`` (a DuckDB file or a PostgreSQL URL)."""
    with connect(ref) as con:
        return dataset_as_of(con)


def members(con: Warehouse, model: str) -> set[str]:
    return {r[0] for r in con.execute(f"select person_id from main.{model}").fetchall()}


@dataclass
class Rebuilt:
    """A copy of the built warehouse, changed, then rebuilt with dbt (DuckDB files or PostgreSQL URLs)."""

    before: str
    after: str
    erased: str  # person we filed an erasure request for
    revoked: str  # person who revoked marketing email consent
    excluded: str  # person added to the global exclusion list


@pytest.fixture(scope="module", params=TARGETS)
def rebuilt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rebuilt:
    """Copy the warehouse; file an erasure, a consent revocation and an exclusion for three current audience
    members in the raw/seed tables; rebuild everything downstream of them (and the triggers) with dbt."""
    root = tmp_path_factory.mktemp("segments_rebuild")
    (root / "before").mkdir()
    (root / "after").mkdir()
    before = copy_demo(request, request.param, root / "before").ref
    after = copy_demo(request, request.param, root / "after").ref
    con = connect(after)
    as_of = dataset_as_of(con)
    # Someone in a marketing email audience and in the transactional one (a lapsed customer, say).
    both = con.execute(
        "select m.person_id, p.email from main.sync_lapsed_customers_email m "
        "join main.sync_customers_service_email t using (person_id) "
        "join main.dim_profiles p using (person_id) order by m.person_id"
    ).fetchall()
    assert len(both) >= 3, "demo data should have lapsed customers with consent"
    (erased, erased_email), (revoked, revoked_email), (excluded, excluded_email) = both[:3]
    con.execute(
        "insert into raw.erasure_requests values "
        "('test-erasure-1', 'email', ?, cast(? as timestamp) - interval '1 hour')",
        [erased_email.upper(), as_of],
    )
    con.execute(
        "insert into raw.consent_events values ('test-consent-1', 'email', ?, 'marketing', 'email', "
        "'revoked', 'preference_center', cast(? as timestamp) - interval '1 hour')",
        [f"  {revoked_email} ", as_of],
    )
    con.execute("insert into main.global_exclusions values ('email', ?, 'test', date '2026-01-01')", [excluded_email])
    con.close()
    run_dbt_on(
        [
            "run",
            "--select",
            "stg_consent__events+ stg_privacy__erasure_requests+ excluded_persons+ "
            "int_trigger__cart_abandoned+ int_trigger__trial_ending+ int_trigger__reengagement+ "
            "int_trigger__lead_score_threshold+",
        ],
        warehouse=after,
        as_of=as_of,
    )
    return Rebuilt(before=before, after=after, erased=erased, revoked=revoked, excluded=excluded)
