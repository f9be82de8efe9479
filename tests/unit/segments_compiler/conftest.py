"""Fixtures for the segment compiler: a throwaway dbt project dir and a tiny profile warehouse."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from outflow.warehouse import Warehouse, connect

NOW = "2026-01-31 12:00:00"


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """Write segment YAML files into a fresh project dir; returns the project dir."""
    (tmp_path / "segments").mkdir()

    def write(*segments: dict, raw: dict[str, str] | None = None) -> Path:
        for s in segments:
            (tmp_path / "segments" / f"{s['name']}.yml").write_text(yaml.safe_dump(s))
        for fname, text in (raw or {}).items():
            (tmp_path / "segments" / fname).write_text(text)
        return tmp_path

    return write


def seg(name: str, conditions: object) -> dict:
    return {"name": name, "description": f"test segment {name}", "owner": "tests", "conditions": conditions}


@pytest.fixture
def fixture_db() -> Iterator[Warehouse]:
    """Five people with known traits and events, in schema main."""
    con = connect(":memory:")
    fill_fixture(con)
    yield con
    con.close()


def fill_fixture(con: Warehouse) -> None:
    """The five people, in portable SQL (DuckDB and PostgreSQL)."""
    con.execute("""
        create table main.dim_profiles as select * from (values
          ('p1', 'ann@example.com', '+33612345678', 'Ann', 'Lee', 'Acme', 'CTO', 'software', 120, 'FR', true,
           timestamp '2025-01-01', timestamp '2026-01-30', date '1980-05-01'),
          ('p2', 'bob@shop.io', null, 'Bob', 'Ray', 'Shop', 'Buyer', 'retail', 8, 'US', true,
           timestamp '2025-06-01', timestamp '2026-01-10', date '1992-02-03'),
          ('p3', '', null, 'Cy', 'Doe', null, null, null, null, 'DE', false,
           timestamp '2025-12-01', timestamp '2025-12-02', null),
          ('p4', 'dee@example.com', '+4915112345678', 'Dee', 'Fox', 'Globex', 'VP Sales', 'software', 5000,
           'DE', true, timestamp '2024-01-01', timestamp '2026-01-31', date '1975-09-09'),
          ('p5', null, null, null, null, null, null, null, null, null, false,
           timestamp '2026-01-20', timestamp '2026-01-29', null)
        ) t(person_id, email, phone, first_name, last_name, company, job_title, industry, employee_count,
            country, is_known, first_seen_at, last_seen_at, birth_date)
    """)
    con.execute("""
        create table main.dim_profile_traits as select * from (values
          ('p1', 1, 5, 0, 0.0, null::timestamp, 3, 'lead'),
          ('p2', 21, 0, 4, 900.0, timestamp '2025-09-01', 0, 'customer'),
          ('p3', 60, 0, 0, 0.0, null::timestamp, 0, 'visitor'),
          ('p4', 0, 1, 1, 50.0, timestamp '2026-01-25', 1, 'customer'),
          ('p5', 2, 0, 0, 0.0, null::timestamp, 0, 'visitor')
        ) t(person_id, days_since_last_seen, pricing_views_30d, order_count, total_revenue, last_order_at,
            email_clicks_30d, lifecycle_stage)
    """)
    con.execute("""
        create table main.fct_events as select * from (values
          ('e1', 'p1', 'web', 'page_view', timestamp '2026-01-29', '/pricing', null, null),
          ('e2', 'p1', 'web', 'page_view', timestamp '2026-01-28', '/pricing', null, null),
          ('e3', 'p1', 'web', 'page_view', timestamp '2026-01-27', '/pricing/enterprise', null, null),
          ('e4', 'p2', 'web', 'page_view', timestamp '2026-01-29', '/pricing', null, null),
          ('e5', 'p2', 'web', 'page_view', timestamp '2025-11-01', '/pricing', null, null),
          ('e6', 'p2', 'order', 'order_completed', timestamp '2025-09-01', null, null, 300.0),
          ('e7', 'p4', 'order', 'order_completed', timestamp '2026-01-25', null, null, 50.0),
          ('e8', 'p5', 'web', 'add_to_cart', timestamp '2026-01-29', '/cart', null, null),
          ('e9', 'p1', 'web', 'page_view', timestamp '2026-02-05', '/pricing', null, null)
        ) t(event_id, person_id, source, event_type, occurred_at, page_path, campaign_id, amount)
    """)
    con.execute("""
        create table main.ml_lead_scores as select * from (values
          ('p1', 0.82, 1, '[]', 'v3', timestamp '2026-01-30'),
          ('p3', 0.40, 4, '[]', 'v3', timestamp '2026-01-30'),
          ('p5', 0.65, 2, '[]', 'v3', timestamp '2026-01-30')
        ) t(person_id, score, decile, reason_codes, model_version, scored_at)
    """)
