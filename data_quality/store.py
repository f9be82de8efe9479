"""What the quality gate keeps in the warehouse, in schema ``outflow_quality``.

- ``check_results``: one row per check per run (status, failed count, message);
- ``failed_rows``: a sample of the failing rows of each failed check, as JSON;
- ``row_counts``: the accepted row count of each activation model per run, the baseline of the
  row-count-change check (only a run whose count was within the band moves the baseline).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from data_quality.config import QualityConfig
from data_quality.warehouse import database_path, exists
from outflow.warehouse import Warehouse

if TYPE_CHECKING:
    from data_quality.runner import QualityRun

log = logging.getLogger(__name__)

SCHEMA = "outflow_quality"

DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.check_results (
    run_id varchar, checked_at timestamp, data_as_of timestamp, asset varchar, check_name varchar,
    severity varchar, status varchar, failed_count bigint, element_count bigint, observed varchar,
    message varchar, description varchar
);
create table if not exists {SCHEMA}.failed_rows (
    run_id varchar, checked_at timestamp, asset varchar, check_name varchar, severity varchar,
    row_number integer, row_json varchar
);
create table if not exists {SCHEMA}.row_counts (
    asset varchar, row_count bigint, recorded_at timestamp, run_id varchar
);
"""


def ensure_schema(con: Warehouse) -> None:
    con.execute(DDL)


def previous_count(con: Warehouse, asset: str) -> int | None:
    """The last accepted row count of an activation model, or None before its first run."""
    if not exists(con, f"{SCHEMA}.row_counts"):
        return None
    row = con.execute(
        f"select row_count from {SCHEMA}.row_counts where asset = ? order by recorded_at desc limit 1",
        [asset],
    ).fetchone()
    return int(row[0]) if row else None


def record_count(con: Warehouse, asset: str, count: int, run_id: str) -> None:
    ensure_schema(con)
    con.execute(
        f"insert into {SCHEMA}.row_counts values (?, ?, ?, ?)",
        [asset, count, dt.datetime.now(dt.UTC).replace(tzinfo=None), run_id],
    )


def rebaseline(con: Warehouse, asset: str) -> int:
    """Accept the model's current row count as the new baseline (after an intended change)."""
    from data_quality.warehouse import quote

    count = int(con.execute(f"select count(*) from {quote('main.' + asset)}").fetchone()[0])
    record_count(con, asset, count, "rebaseline")
    return count


def save_run(con: Warehouse, run: QualityRun, cfg: QualityConfig) -> None:
    ensure_schema(con)
    at = run.started_at
    con.executemany(
        f"insert into {SCHEMA}.check_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                run.run_id,
                at,
                run.now,
                r.asset,
                r.name,
                r.severity.value,
                r.status,
                r.failed_count,
                r.element_count,
                None if r.observed is None else json.dumps(r.observed, default=str),
                r.message,
                r.description,
            ]
            for r in run.results
        ],
    )
    rows = [
        [run.run_id, at, r.asset, r.name, r.severity.value, n, json.dumps(row, default=str)]
        for r in run.results
        if r.status == "failed"
        for n, row in enumerate(r.sample[: cfg.sample_rows])
    ]
    if rows:
        con.executemany(f"insert into {SCHEMA}.failed_rows values (?, ?, ?, ?, ?, ?, ?)", rows)


def report_dir(con: Warehouse, cfg: QualityConfig) -> Path:
    """Where HTML reports go: config ``report_dir``, else ``quality/`` beside the warehouse file."""
    if cfg.report_dir is not None:
        return cfg.report_dir
    path = database_path(con)
    if path:
        return Path(path).resolve().parent / "quality"
    from outflow.settings import warehouse_path

    return warehouse_path().parent / "quality"
