"""Benchmark: what keeping the written keys until the tests pass costs a daily build, bare, on a copy of a built
warehouse (docs/incremental.md, "The written keys wait for the tests that read them").

The statements that changed, each run `--repeat` times through outflow.warehouse on one copy, with the process's CPU
seconds (DuckDB's threads included) and wall seconds:

- `fct_events`' strategy, for a day's rows (the newest `--share` of the events, as the temporary relation dbt's
  delete+insert writes): before, `create table <model>__written as select distinct` keys; after, on a day whose
  tests passed before it (the table empty), `insert ... except` the kept keys; and on a day after a failed one (the
  table holds the failed day's keys, here the day's own: every key is kept again, the largest `except`);
- the on-run-end hook that empties the five models' tables after passing tests (`drop` and `create ... where 1 = 0`);
- `int_identity__identifiers`' log: the count that decides whether to replace older rows (an empty log, a day that
  follows a build that ran `dim_profiles`) and the replacement when the log holds a day's rows of the same
  identifiers (days that `dim_profiles` missed);
- for scale, `outflow_unique_written` on `fct_events.event_id` with the day's keys (the same query before and after
  when the tests pass).

    .venv/bin/python bench/written_keys.py /tmp/<you>_300k/w.duckdb
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from outflow.warehouse import connect

MODELS = {
    "fct_events": ["source", "event_id"],
    "int_identity__signatures": ["signature_id"],
    "int_identity__signature_persons": ["signature_id"],
    "int_identity__nodes": ["identifier_key"],
    "int_identity__identifiers": ["identifier_key"],
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(repeat: int, setup: Callable[[], None], run: Callable[[], None]) -> str:
    cpu, wall = [], []
    for _ in range(repeat):
        setup()
        start_cpu, start = _cpu(), time.perf_counter()
        run()
        cpu.append(_cpu() - start_cpu)
        wall.append(time.perf_counter() - start)
    return f"{statistics.median(cpu):.3f} CPU s ({min(cpu):.3f}-{max(cpu):.3f}), {statistics.median(wall):.3f} wall s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path, help="a built DuckDB warehouse (copied, never written)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.01, help="the share of the events a day writes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.warehouse.parent) as scratch:
        path = Path(scratch) / "w.duckdb"
        shutil.copy(args.warehouse, path)
        with connect(path) as wh:
            _measure(wh, args.repeat, args.share)


def _measure(wh, repeat: int, share: float) -> None:  # noqa: ANN001
    events = wh.execute("select count(*) from main.fct_events").fetchone()[0]
    day = int(events * share)
    wh.execute(f"create table main.bench_day as select * from main.fct_events order by occurred_at desc limit {day}")
    identifiers = wh.execute("select count(*) from main.int_identity__identifiers").fetchone()[0]
    print(f"{events:,} events, a day's {day:,} rows; {identifiers:,} identifiers; load {os.getloadavg()[0]:.1f}")
    written, keys = "main.fct_events__written", "source, event_id"

    def empty() -> None:
        wh.execute(f"drop table if exists {written}")
        wh.execute(f"create table {written} as select {keys} from main.fct_events where 1 = 0")

    def kept() -> None:
        empty()
        wh.execute(f"insert into {written} select {keys} from main.bench_day")

    def append() -> None:
        wh.execute(f"insert into {written} select {keys} from main.bench_day except select {keys} from {written}")

    print(
        "fct_events' strategy, before (create ... select distinct):",
        _timed(
            repeat,
            lambda: wh.execute(f"drop table if exists {written}"),
            lambda: wh.execute(f"create table {written} as select distinct {keys} from main.bench_day"),
        ),
    )
    print("fct_events' strategy, after, the table empty (insert ... except):", _timed(repeat, empty, append))
    print("fct_events' strategy, after a failed day (its keys kept):", _timed(repeat, kept, append))

    def checked() -> None:
        for model, columns in MODELS.items():
            wh.execute(f"drop table if exists main.{model}__written")
            columns_list = ", ".join(columns)
            wh.execute(f"create table main.{model}__written as select {columns_list} from main.{model} where 1 = 0")

    print("on-run-end, five models emptied:", _timed(repeat, lambda: None, checked))
    print(
        "outflow_unique_written on fct_events.event_id, a day's keys:",
        _timed(
            repeat,
            kept,
            lambda: wh.execute(
                "select count(*) from (select event_id from main.fct_events where event_id is not null and event_id "
                f"in (select event_id from {written}) group by event_id having count(*) > 1) as failures"
            ),
        ),
    )
    log = "main.int_identity__identifiers_removed"
    rewritten = max(1, int(identifiers * share))
    wh.execute(
        "create table main.bench_rewritten as select * from main.int_identity__identifiers "
        f"where person_id is not null order by written_at desc, identifier_key limit {rewritten}"
    )
    print(
        "identifiers' log, the count (an empty log):",
        _timed(
            repeat,
            lambda: wh.execute(f"delete from {log}"),
            lambda: wh.execute(f"select count(*) from (select 1 from {log} limit 1) as logged").fetchone(),
        ),
    )

    def logged() -> None:
        wh.execute(f"delete from {log}")
        wh.execute(f"insert into {log} select identifier_key, person_id, written_at from main.bench_rewritten")

    print(
        f"identifiers' log, replacing a missed day's {rewritten:,} rows:",
        _timed(
            repeat,
            logged,
            lambda: wh.execute(
                f"delete from {log} where (identifier_key, person_id) in (select stored.identifier_key, "
                "stored.person_id from main.int_identity__identifiers as stored where stored.identifier_key in "
                "(select identifier_key from main.bench_rewritten))"
            ),
        ),
    )


if __name__ == "__main__":
    main()
