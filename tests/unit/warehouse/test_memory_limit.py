"""The DuckDB memory limit by default: a quarter of the machine's memory, between 1 GiB and 4 GiB, in every
connection; OUTFLOW_DUCKDB_MEMORY_LIMIT wins over it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from outflow.warehouse import connect, duckdb


@pytest.mark.parametrize(
    ("machine_gib", "expected"),
    [(2, "1024MiB"), (8, "2048MiB"), (12, "3072MiB"), (23.5, "4096MiB"), (64, "4096MiB")],
)
def test_the_default_is_a_quarter_of_the_memory_between_1_and_4_gib(
    machine_gib: float, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OUTFLOW_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(duckdb, "machine_memory", lambda: int(machine_gib * 2**30))
    assert duckdb.memory_limit() == expected


def test_a_container_limit_below_the_machine_memory_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = tmp_path / "memory.max"
    limit.write_text(f"{2 * 2**30}\n")
    monkeypatch.setattr(duckdb, "_CGROUP_LIMITS", (str(tmp_path / "absent"), str(limit)))
    assert duckdb.machine_memory() == 2 * 2**30
    limit.write_text("max\n")  # no limit: the machine's memory
    assert duckdb.machine_memory() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_every_connection_takes_the_default_unless_the_variable_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OUTFLOW_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(duckdb, "machine_memory", lambda: 8 * 2**30)
    with connect(tmp_path / "w.duckdb") as wh:
        assert wh.execute("select current_setting('memory_limit')").fetchone()[0] == "2.0 GiB"
    monkeypatch.setenv("OUTFLOW_DUCKDB_MEMORY_LIMIT", "1GB")
    with connect(tmp_path / "w.duckdb") as wh:
        assert wh.execute("select current_setting('memory_limit')").fetchone()[0] == "953.6 MiB"


def test_the_loaders_file_engine_is_bounded_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from outflow.warehouse import local_engine

    monkeypatch.delenv("OUTFLOW_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(duckdb, "machine_memory", lambda: 8 * 2**30)
    engine = local_engine(tmp_path)
    try:
        assert engine.execute("select current_setting('memory_limit')").fetchone()[0] == "2.0 GiB"
    finally:
        engine.close()
