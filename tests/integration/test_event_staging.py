"""The staged events keep only the columns their readers use. A warehouse whose staging tables were built with a
column dropped since (stg_web__events' is_late, stg_email__events' email) rebuilds them whole on its next run
(meta outflow_layout_dropped, macros/outflow_incremental.sql) instead of failing on the changed columns
(on_schema_change: fail), and gets the same rows. Through real dbt runs on a copy of the demo warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

from outflow.build import run_dbt
from outflow.warehouse import connect

STAGED = {"stg_web__events": "is_late", "stg_email__events": "email"}


def _rows(wh, model: str) -> list[tuple]:
    return wh.execute(f"select * from main.{model} order by event_id").fetchall()


def test_a_staging_table_with_a_dropped_column_is_rebuilt_whole(built_warehouse: Path, tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    shutil.copy(built_warehouse, path)
    with connect(path) as wh:
        before = {model: _rows(wh, model) for model in STAGED}
        assert all(before.values())
        for model, column in STAGED.items():
            assert column not in wh.columns("main", model)
            # as a build from before the column was dropped left the table
            wh.execute(f"alter table main.{model} add column {column} varchar default 'old'")
    run_dbt(["run", "--select", " ".join(STAGED)], warehouse=path)
    with connect(path) as wh:
        for model, column in STAGED.items():
            assert column not in wh.columns("main", model)
            assert _rows(wh, model) == before[model]
