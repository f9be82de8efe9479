"""A segment on the predictive score (ml_lead_scores, written by models_ml) compiles to a dbt model that dbt
builds against the real warehouse, and previews the same members."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from dbt.cli.main import dbtRunner

from outflow.build import dbt_env
from outflow.segments.codegen import write_generated
from outflow.segments.preview import preview_segment
from outflow.settings import DBT_PROJECT_DIR
from outflow.warehouse import connect

from .conftest import copy_warehouse

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


def test_segment_on_the_ml_score_builds_with_dbt_and_previews(built_warehouse: Path, tmp_path: Path) -> None:
    wh = tmp_path / "ml.duckdb"
    as_of = copy_warehouse(built_warehouse, wh)
    con = connect(wh)
    # Scores as `outflow score run` writes them: every tenth person, with a spread of scores and deciles.
    con.execute(
        """insert into main.ml_lead_scores
        select person_id, 1 - (row_number() over (order by person_id) % 10) / 10.0, 1 + (row_number() over
            (order by person_id) % 10), '[]', 'test-v1', timestamp '2026-01-01'
        from main.dim_profiles where hash(person_id) % 10 = 0"""
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

    dbt_env(wh)
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
