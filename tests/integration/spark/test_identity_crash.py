"""The identity step on Spark survives a crash at any point of its publication: the run after the crash leaves the
same person map, remembered edges, id registry and identity changes as a run that never crashed.

Spark's Parquet tables have no multi-statement transactions, so the step writes a new generation of its four
tables and then switches the views the readers use, person_map's first (the commit). Here the warehouse fails
before a chosen write statement (the process goes on to the next run, as a restarted one would), on the demo's
identity graph: a first run (no earlier map) and a second with overrides (earlier ids vote, the registry is read,
changes are reported), each crashed mid-propagation and at the points of its publication where the tables stand
differently, one crash after the other, then run to the end and compared with the uncrashed runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from outflow.label_propagation import TABLES, recover, resolve_in_warehouse
from outflow.person_map import identity_config
from outflow.warehouse import Warehouse, connect
from tests.hard_graph import GRAPH, split_and_merge
from tests.integration.spark.conftest import spark_env
from tests.integration.spark.test_identity import RUNS

pytestmark = pytest.mark.spark

SOURCE = "crash_graph"
WRITE = re.compile(r"\s*(create|drop|alter|insert)\b", re.IGNORECASE)


class Crash(Exception):
    pass


class Crashing:
    """The warehouse, failing before the `at`-th write statement of the publication (counted from the first table
    of the new generation) or before the write that names `before`; it records the publication's writes."""

    def __init__(self, wh: Warehouse, schema: str, at: int | None = None, before: str | None = None) -> None:
        self.wh, self.schema, self.at, self.before = wh, schema, at, before
        self.published: list[str] | None = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        if WRITE.match(sql):
            if f"create table {self.schema}.person_map__" in sql:
                self.published = []
            if self.published is not None:
                self.published.append(sql)
                if len(self.published) == self.at:
                    raise Crash(sql)
            if self.before and self.before in sql:
                raise Crash(sql)
        return self.wh.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wh, name)


def _tables(wh: Warehouse, schema: str) -> dict[str, pl.DataFrame]:
    return {name: wh.fetch_polars(f"select * from {schema}.{name}").sort(pl.all()) for name in TABLES}


def _run(wh: Any, schema: str, run: int, overrides: list) -> None:
    resolve_in_warehouse(wh, identity_config(), overrides, RUNS[run], source=SOURCE, schema=schema)


def test_a_crash_at_any_point_then_a_rerun_gives_the_uncrashed_tables(
    built_warehouse: Path, spark_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark_env(monkeypatch, spark_root)
    with connect(built_warehouse, read_only=True) as duck, connect(target="spark") as spark:
        for table in GRAPH:
            spark.write_arrow(f"{SOURCE}.{table}", duck.fetch_arrow(f"select * from main.{table}"), mode="replace")
        expected, writes = [], []
        overrides: list = []
        for run in range(2):  # uncrashed: the tables after each run, and the publication's writes
            recording = Crashing(spark, "clean_identity")
            _run(recording, "clean_identity", run, overrides)
            expected.append(_tables(spark, "clean_identity"))
            writes.append(recording.published)
            overrides = split_and_merge(expected[0]["person_map"])
        assert expected[1]["identity_changes"].height > expected[0]["identity_changes"].height
        assert expected[1]["person_ids"].height >= expected[0]["person_ids"].height > 100

        overrides = []
        for run in range(2):
            # mid-propagation, then in the publication: between two new tables, before the commit, after it, with
            # the views switched, half the generation before dropped (the first run: around the commit); each
            # crash in the rerun of the last
            cleanup = next(
                i for i, sql in enumerate(writes[run], 1) if sql.startswith("drop table if exists clean_identity._lp_")
            )
            assert cleanup == 13 if run else cleanup == 9  # four tables, four views, four dropped (not on the first)
            assert "view clean_identity.person_map " in writes[run][4]  # the fifth write is the commit
            published = (2, 5, 6, 9, 11) if run else (5, 6)
            points = [{"before": "_lp_groups_2 as"}] + [{"at": n} for n in published]
            for point in points:
                with pytest.raises(Crash):
                    _run(Crashing(spark, "crash_identity", **point), "crash_identity", run, overrides)
                if run:  # the readers always find the four tables
                    assert all(spark.table_exists("crash_identity", name) for name in TABLES)
            _run(spark, "crash_identity", run, overrides)
            got = _tables(spark, "crash_identity")
            for name, frame in expected[run].items():
                assert got[name].equals(frame), f"run {run + 1}: {name} differs after the crashes"
            generations = {t.rpartition("__")[2] for t in spark.tables("crash_identity") if "__" in t}
            assert len(generations) == 1  # the generation before and the unfinished ones are gone
            overrides = split_and_merge(expected[0]["person_map"])


def test_tables_from_before_generations_are_taken_over(spark_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema whose four tables were written in place becomes generation `legacy`, also when a crash stopped
    the take-over half way (one table already renamed, the person map still a table)."""
    spark_env(monkeypatch, spark_root)
    schema = "legacy_identity"
    with connect(target="spark") as spark:
        spark.create_schema(schema)
        for name in TABLES:
            spark.execute(f"create table {schema}.{name} as select '{name}' as what")
        spark.execute(f"alter table {schema}.edges_seen rename to {schema}.edges_seen__legacy")
        for _ in range(2):  # the second time finds the work done
            assert recover(spark, schema) == "legacy"
            assert sorted(spark.tables(schema)) == sorted([*TABLES, *(f"{name}__legacy" for name in TABLES)])
            for name in TABLES:
                assert spark.execute(f"select what from {schema}.{name}").fetchall() == [(name,)]
