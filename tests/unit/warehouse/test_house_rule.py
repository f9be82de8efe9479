"""The house rule: every library reaches the warehouse through ``outflow.warehouse``; only a back end imports a
driver. An AST scan, so a string that merely mentions duckdb does not count and an import inside a function does."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("activations", "models_ml", "data_quality", "orchestration", "outflow", "bench")

# Which module may import which driver.
BACK_ENDS = {
    "duckdb": {"outflow/warehouse/duckdb.py"},
    "psycopg": {"outflow/warehouse/postgres.py"},
    "adbc_driver_postgresql": {"outflow/warehouse/postgres.py"},
    "adbc_driver_manager": {"outflow/warehouse/postgres.py"},
    "pyspark": {"outflow/warehouse/spark.py"},
}

# Modules still importing duckdb directly while they are rewritten on the interface. Each entry is a debt:
# remove it with the module's conversion. The list must only shrink.
NOT_YET_CONVERTED: set[str] = set()


def _imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def offenders() -> dict[str, set[str]]:
    """module path -> the drivers it imports without being their back end."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            imported = _imported_roots(ast.parse(path.read_text(), rel)) & BACK_ENDS.keys()
            drivers = {d for d in imported if rel not in BACK_ENDS[d]}
            if drivers:
                found[rel] = drivers
    return found


def test_only_the_back_ends_import_a_warehouse_driver() -> None:
    bad = {m: d for m, d in offenders().items() if not (m in NOT_YET_CONVERTED and d == {"duckdb"})}
    assert not bad, "modules that must reach the warehouse through outflow.warehouse instead: " + ", ".join(
        f"{m} imports {'/'.join(sorted(d))}" for m, d in sorted(bad.items())
    )


def test_the_allowlist_holds_no_module_already_converted() -> None:
    # An entry whose module no longer imports duckdb must be removed, so the list empties as work is done.
    stale = sorted(m for m in NOT_YET_CONVERTED if m not in offenders() and (ROOT / m).exists())
    assert not stale, f"remove from NOT_YET_CONVERTED (they no longer import duckdb): {stale}"


def test_the_scan_sees_an_import_inside_a_function() -> None:
    tree = ast.parse("def f():\n    import duckdb.experimental as d\n    from psycopg import sql\n")
    assert _imported_roots(tree) == {"duckdb", "psycopg"}
