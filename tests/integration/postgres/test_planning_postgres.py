"""PostgreSQL plans every model from fresh statistics: the session's PostgreSQL parity build (conftest.py) has
run ANALYZE on every table dbt built (models materialized as tables or incrementally, seeds, snapshots) and on
every raw table the loader filled in bulk, so no model is planned from a guess (without them int_trigger__cart_abandoned
and int_profiles__attribute_candidates ran as nested loops; docs/warehouses.md, "Where PostgreSQL spends it").

``last_analyze`` is set by an explicit ANALYZE only (autovacuum sets ``last_autoanalyze``), so the test fails if
the post-hook or the loader's ANALYZE is gone, whatever autovacuum did meanwhile."""

from __future__ import annotations

import pytest

from outflow.warehouse import connect
from outflow.warehouse.postgres import ANALYZE_ROWS
from tests.demo_builds import Builds

pytestmark = pytest.mark.postgres


def test_every_built_and_loaded_table_has_statistics(builds: Builds) -> None:
    nodes = builds.manifest["nodes"].values()
    tables = {
        ("main", n["alias"])
        for n in nodes
        if n["resource_type"] in ("seed", "snapshot")
        or (n["resource_type"] == "model" and n["config"]["materialized"] in ("table", "incremental"))
    }
    assert len(tables) > 40
    with connect(url=builds.pg_url) as pg:
        analyzed = {
            (schema, name): when is not None
            for schema, name, when in pg.execute(
                "select schemaname, relname, last_analyze from pg_stat_user_tables where schemaname in ('main', 'raw')"
            ).fetchall()
        }
        bulk = pg.execute(
            "select relname from pg_stat_user_tables where schemaname = 'raw' and n_live_tup >= ?", [ANALYZE_ROWS]
        ).fetchall()
    missing = sorted(f"{s}.{t}" for s, t in tables if (s, t) in analyzed and not analyzed[s, t])
    assert not missing, f"tables dbt built without statistics: {missing}"
    assert tables <= set(analyzed), sorted(tables - set(analyzed))
    assert {"email_events", "web_events"} <= {t for (t,) in bulk}
    raw = sorted(t for (t,) in bulk if not analyzed["raw", t])
    assert not raw, f"raw tables loaded without statistics: {raw}"
