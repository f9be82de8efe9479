"""A segment on the predictive score (ml_lead_scores, written by models_ml) compiles to a dbt model that dbt
builds against the real warehouse, and previews the same members."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from dbt.cli.main import dbtRunner

from outflow.build import dbt_env
from outflow.segments.codegen import write_generated
from outflow.segments.preview import preview_segment
from outflow.settings import DBT_PROJECT_DIR
from outflow.warehouse import connect
from tests.demo_builds import postgres_env
from tests.warehouse_fixtures import Location

from .conftest import demo_as_of

SEGMENT = {
    "name": "ml_likely_buyers",
    "description": "Non-customers the predictive model puts in its top two deciles with a score of at least 0.3.",
    "owner": "tests",
    "conditions": [
        {"not_in_segment": "customers"},
        {"field": "ml_lead_scores.decile", "op": "<=", "value": 2},
        {"field": "score", "op": ">=", "value": 0.3},
    ],
}


def test_segment_on_the_ml_score_builds_with_dbt_and_previews(
    demo_warehouse: Location, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = demo_warehouse.ref  # a copy of the demo build, on each target
    as_of = demo_as_of(wh)
    con = connect(wh)
    # Scores as `outflow score run` writes them: every tenth person, with a spread of scores and deciles.
    con.execute(
        """insert into main.ml_lead_scores
        select person_id, 1 - (n % 10) / 10.0, 1 + (n % 10), '[]', 'test-v1', timestamp '2026-01-01'
        from (select person_id, row_number() over (order by person_id) as n from main.dim_profiles) p
        where n % 7 = 0"""
    )
    expected = {
        r[0]
        for r in con.execute(
            """select s.person_id from main.ml_lead_scores s
            where s.decile <= 2 and s.score >= 0.3
              and s.person_id not in (select person_id from main.seg_customers)"""
        ).fetchall()
    }
    con.close()
    assert expected, "the inserted scores put some non-customers in the segment"

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "segments" / "ml_likely_buyers.yml").write_text(yaml.safe_dump(SEGMENT, sort_keys=False))
    write_generated(project)
    model = (project / "models" / "segments" / "seg_ml_likely_buyers.sql").read_text()
    assert "source('ml', 'ml_lead_scores')" in model

    if demo_warehouse.url is not None:
        postgres_env(monkeypatch, demo_warehouse.url)
    else:
        monkeypatch.setenv("OUTFLOW_TARGET", "duckdb")
    dbt_env(demo_warehouse.path)
    result = dbtRunner().invoke(
        [
            "--quiet",
            "run",
            "--select",
            "seg_ml_likely_buyers",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--vars",
            json.dumps({"as_of": as_of}),
        ]
    )
    assert result.success, result.exception
    con = connect(wh)
    try:
        built = {r[0] for r in con.execute("select person_id from main.seg_ml_likely_buyers").fetchall()}
    finally:
        con.close()
    assert built == expected
    preview = preview_segment("ml_likely_buyers", project, wh, as_of=as_of)
    assert preview.size == len(expected)
