"""Checks that pass, decided without Great Expectations.

Importing GX and building its context costs seconds, while a sync's gate checks a few thousand rows. For the
expectations below, :func:`passed` decides on the Arrow table of the frame whether the check passes, by GX's own
rules (nulls are not checked by the value rules; a regex is searched in ``str(value)``, as GX's pandas engine
does), and returns the result GX would give for a pass. Anything else (a failure, whose sample GX reports; a
float column, where pandas turns NaN into null; a keyword argument not handled here) returns ``None`` and GX
checks it as before (data_quality/runner.py). tests/integration/quality/test_fast_path.py compares both.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: expectation -> the keyword arguments :func:`passed` understands
HANDLED: dict[str, frozenset[str]] = {
    "expect_column_values_to_not_be_null": frozenset({"column"}),
    "expect_column_values_to_be_unique": frozenset({"column"}),
    "expect_column_values_to_be_in_set": frozenset({"column", "value_set"}),
    "expect_column_values_to_match_regex": frozenset({"column", "regex"}),
    "expect_table_row_count_to_be_between": frozenset({"min_value", "max_value"}),
    "expect_table_columns_to_match_set": frozenset({"column_set", "exact_match"}),
}


@lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _values(col: pa.ChunkedArray) -> list[Any]:
    """The distinct non-null values of a column."""
    return [v for v in pc.unique(col.drop_null()).to_pylist() if v is not None]


def passed(expectation: str, kwargs: dict[str, Any], table: pa.Table) -> dict[str, Any] | None:
    """The fields of GX's result when the check passes on ``table`` (failed_count, element_count, observed);
    ``None`` when it does not pass or is not decided here."""
    if expectation not in HANDLED or not set(kwargs) <= HANDLED[expectation]:
        return None
    rows = table.num_rows
    if expectation == "expect_table_row_count_to_be_between":
        lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
        ok = (lo is None or rows >= lo) and (hi is None or rows <= hi)
        return {"failed_count": None, "element_count": None, "observed": rows} if ok else None
    if expectation == "expect_table_columns_to_match_set":
        if kwargs.get("exact_match", True) or not set(kwargs["column_set"]) <= set(table.column_names):
            return None
        return {"failed_count": None, "element_count": None, "observed": sorted(table.column_names)}
    name = kwargs["column"]
    if name not in table.column_names:
        return None
    col = table.column(name)
    if pa.types.is_floating(col.type) or pa.types.is_decimal(col.type):
        return None
    if expectation == "expect_column_values_to_not_be_null":
        ok = col.null_count == 0
    elif expectation == "expect_column_values_to_be_unique":
        ok = pc.count_distinct(col, mode="only_valid").as_py() == rows - col.null_count
    elif expectation == "expect_column_values_to_be_in_set":
        if kwargs["value_set"] is None:
            return None
        allowed = set(kwargs["value_set"])
        ok = all(v in allowed for v in _values(col))
    else:  # expect_column_values_to_match_regex
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            return None
        search = _regex(kwargs["regex"]).search
        ok = all(search(v) for v in _values(col))
    return {"failed_count": 0, "element_count": rows, "observed": None} if ok else None
