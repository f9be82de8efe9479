"""Segments, audiences, triggers and the consent gate.

Segments are declared in YAML (``dbt_project/segments``), validated against the columns the dbt project
declares, compiled with sqlglot and written as dbt models (``outflow segment compile``).
"""

from __future__ import annotations

import logging
from typing import Any

from outflow.segments.errors import SegmentError

log = logging.getLogger(__name__)

__all__ = ["SegmentError", "summary"]


def summary(con: Any, schema: str = "main") -> list[tuple[str, int]]:
    """Sizes of every built segment (``seg_*``), audience (``sync_*``) and trigger (``trg_*``) model.

    ``con`` is a DuckDB connection to the warehouse. Models not built yet are skipped.
    """
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? and "
        "(table_name like 'seg\\_%' escape '\\' or table_name like 'sync\\_%' escape '\\' "
        "or table_name like 'trg\\_%' escape '\\') order by table_name",
        [schema],
    ).fetchall()
    out: list[tuple[str, int]] = []
    for (name,) in rows:
        n = con.execute(f'select count(*) from "{schema}"."{name}"').fetchall()[0][0]
        out.append((name, int(n)))
    return out
