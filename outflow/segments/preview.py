"""Preview a segment against the warehouse before anything is synced."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from outflow.asof import resolve_as_of
from outflow.segments.codegen import compile_project
from outflow.segments.compiler import inline_segments, render_direct
from outflow.segments.errors import SegmentError
from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass
class Preview:
    size: int
    as_of: str
    sample_columns: list[str] = field(default_factory=list)
    sample_rows: list[tuple] = field(default_factory=list)
    overlaps: list[tuple[str, int, int]] = field(default_factory=list)


def _default_as_of(con: Warehouse) -> str:
    """The data's 'now': OUTFLOW_AS_OF, else the loaded dataset's date (end of that day), else the latest event,
    else the current time."""
    as_of = resolve_as_of(None, con).dbt_var
    if as_of:
        return as_of
    ts = None
    if con.table_exists("main", "fct_events"):
        (ts,) = con.execute("select max(occurred_at) from main.fct_events").fetchone()
    if ts is None:
        (ts,) = con.execute("select cast(current_timestamp as timestamp)").fetchone()
    return str(ts)


def preview_segment(
    name: str, project_dir: Path, warehouse: Path | str | None = None, as_of: str | None = None, sample: int = 5
) -> Preview:
    from outflow import settings
    from outflow.warehouse import QueryError, WarehouseError, connect

    compiled = compile_project(project_dir)
    if name not in compiled:
        raise SegmentError(f"no segment named {name!r}; known: {', '.join(sorted(compiled))}")
    if isinstance(warehouse, str) or (warehouse is None and settings.target() != "duckdb"):
        con = connect(warehouse, read_only=True)  # a postgresql:// URL, or the settings
    else:
        path = warehouse or settings.warehouse_path()
        if not Path(path).exists():
            raise SegmentError(f"{path}: warehouse not found; build it first (outflow demo / dbt build)")
        try:
            con = connect(path, read_only=True)
        except WarehouseError as exc:
            raise SegmentError(str(exc)) from None
    try:
        as_of = resolve_as_of(as_of).dbt_var if as_of else _default_as_of(con)
        sql = {n: render_direct(inline_segments(n, compiled), now=as_of, dialect=con.dialect) for n in compiled}
        try:
            members = {n: {r[0] for r in con.execute(q).fetchall()} for n, q in sql.items()}
        except QueryError as exc:
            raise SegmentError(f"segment query failed against {con.location}: {str(exc).splitlines()[0]}") from None
        mine = members[name]
        out = Preview(size=len(mine), as_of=str(as_of))
        if mine:
            cols = ["person_id", "email", "first_name", "country"]
            # Never display people who asked to be erased (they stay counted: segments are pre-gate).
            erased = (
                "and person_id not in (select person_id from main.erased_persons)"
                if con.table_exists("main", "erased_persons")
                else ""
            )
            # Members in id order, a chunk at a time (a portable IN list) until the sample is full.
            ids, rows = sorted(mine), []
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                rows += con.execute(
                    f"select {', '.join(cols)} from main.dim_profiles where person_id in "
                    f"({', '.join('?' for _ in chunk)}) {erased} order by person_id limit {int(sample)}",
                    chunk,
                ).fetchall()
                if len(rows) >= sample:
                    break
            rows = rows[: int(sample)]
            out.sample_columns, out.sample_rows = cols, rows
        out.overlaps = [(o, len(m), len(mine & m)) for o, m in sorted(members.items()) if o != name]
        return out
    finally:
        con.close()
