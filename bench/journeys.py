"""Benchmark: one journey evaluation with many people in flight and few of them due.

For each size, a temporary warehouse holds N people in flight on a journey's 7-day delay step (written straight
into outflow_journeys.journey_state, in the order they entered, as evaluations append them) and the D who entered
first are due now; one evaluation then moves the due people through a
send step and out (history, sends, state), as a scheduled run would. Three cases per size: 1% due, a fixed 1,000
due (the cost follows the due people rather than everyone in flight), and 1,000 due with the rows shuffled (the
worst case for DuckDB, which finds the due rows through its min/max zone maps rather than an index). Each case
runs in its own process so its peak memory (max RSS) is its own; CPU is the process's user + system time during
the evaluation, plus the server's on a local PostgreSQL (its postmaster and backends).

Usage:  .venv/bin/python bench/journeys.py --sizes 100000 1000000 [--target duckdb|postgres]
(PostgreSQL: OUTFLOW_POSTGRES_URL, or a throwaway local server is started.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from warehouses import Clock  # bench/warehouses.py: wall and CPU seconds, a local PostgreSQL server's included

NOW = datetime(2026, 3, 2, 12)
JOURNEY = """
name: bench
description: A 7-day wait, then one email.
owner: bench@example.com
entry: {segment: customers}
steps:
  - id: wait
    delay: 7 days
  - id: hello
    send: {sync: journey_messages_braze, message: hello}
"""


def _setup(wh, in_flight: int, due: int, shuffled: bool = False) -> None:
    import numpy as np
    import pyarrow as pa

    from activations.journeys.engine import SCHEMA, ensure_tables

    wh.create_schema("main")
    for table, cols in {
        "fct_events": "event_id varchar, person_id varchar, event_type varchar, occurred_at timestamp",
        "segment_membership_history": "person_id varchar, segment varchar, entered_at timestamp, exited_at timestamp",
        "dim_profiles": "person_id varchar, email varchar, timezone varchar",
    }.items():
        wh.execute(f"create table if not exists main.{table} ({cols})")
    ensure_tables(wh)
    ids = [f"p{i:09d}" for i in range(in_flight)]
    # rows are appended in the order people entered, so the due ones (who entered 7 days ago) come first; the rest
    # entered over the 6 days since and are due later
    minutes = np.empty(in_flight, dtype="int64")
    minutes[:due] = 7 * 24 * 60 + 5
    minutes[due:] = np.linspace(6 * 24 * 60, 5, in_flight - due).astype("int64")
    entered = np.datetime64(NOW, "us") - minutes.astype("timedelta64[m]")
    due_at = entered + np.timedelta64(7, "D")
    if shuffled:  # the worst case for DuckDB's zone maps: the due rows spread over the whole table
        order = np.random.default_rng(7).permutation(in_flight)
        entered, due_at = entered[order], due_at[order]
    n = in_flight
    state = pa.table(
        {
            "journey": pa.array(["bench"] * n),
            "person_id": pa.array(ids),
            "entry_seq": pa.array(np.ones(n, dtype=np.int64)),
            "step": pa.array(["wait"] * n),
            "status": pa.array(["active"] * n),
            "entered_at": pa.array(entered),
            "step_entered_at": pa.array(entered),
            "due_at": pa.array(due_at),
            "path": pa.array(["wait"] * n),
            "time_zone": pa.array(["UTC"] * n),
            "properties": pa.array([None] * n, type=pa.string()),
            "exited_at": pa.array([None] * n, type=pa.timestamp("us")),
            "exit_reason": pa.array([None] * n, type=pa.string()),
        }
    )
    wh.write_arrow(f"{SCHEMA}.journey_state", state)
    wh.execute(
        f"insert into {SCHEMA}.journey_runs values ('setup', 'bench', ?, ?, 'ok', 0, 0, 0, 0, 'hello,wait')",
        [NOW - timedelta(hours=1), NOW],
    )
    # the setup's bulk write is settled before the measurement (DuckDB: checkpointed; PostgreSQL: analyzed)
    wh.execute(f"analyze {SCHEMA}.journey_state" if wh.target == "postgres" else "checkpoint")


def one(in_flight: int, due: int, shuffled: int, target: str) -> dict:
    """Set up a warehouse, evaluate once, and report (run in a child process)."""
    from activations.journeys.engine import SCHEMA, evaluate
    from activations.journeys.spec import load_journey
    from outflow.warehouse import connect

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.yml"
        path.write_text(JOURNEY)
        j = load_journey(path)
        if target == "duckdb":
            wh = connect(Path(tmp) / "bench.duckdb")
        else:
            wh = connect(url=os.environ["OUTFLOW_POSTGRES_URL"])
            wh.execute(f"drop schema if exists {SCHEMA} cascade")
        with wh:
            _setup(wh, in_flight, due, bool(shuffled))
            server = os.environ.get("OUTFLOW_BENCH_PG_DATA")
            with Clock(Path(server) if server else None) as clock:  # this process, plus a local server's backends
                ev = evaluate(wh, j, NOW)
            sends = wh.execute(f"select count(*) from {SCHEMA}.journey_sends").fetchone()[0]
    assert ev.moved == 2 * due and sends == due, (ev, sends)
    return {
        "in_flight": in_flight,
        "due": due,
        "layout": "shuffled" if shuffled else "entry order",
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load1": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--target", choices=["duckdb", "postgres"], default="duckdb")
    ap.add_argument("--one", type=int, nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.target)))
        return
    if args.target == "postgres" and not os.environ.get("OUTFLOW_POSTGRES_URL"):
        from outflow.local_postgres import LocalPostgres

        with LocalPostgres() as server:  # a throwaway server on 127.0.0.1 for the run
            os.environ["OUTFLOW_POSTGRES_URL"] = server.url
            os.environ["OUTFLOW_BENCH_PG_DATA"] = str(server.root / "data") if server.root else ""
            _table(args)
        return
    _table(args)


def _table(args: argparse.Namespace) -> None:
    print(f"journey evaluation on {args.target}: people in flight on a 7-day delay, some due now")
    print(f"{'in flight':>10} {'due':>7} {'layout':>12} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'load 1m':>8}")
    for n in args.sizes:
        for due, shuffled in ((n // 100, 0), (1000, 0), (1000, 1)):
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), str(due), str(shuffled), "--target", args.target],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{r['in_flight']:>10,} {r['due']:>7,} {r['layout']:>12} {r['wall_s']:>7.2f} {r['cpu_s']:>7.2f} "
                f"{r['peak_mb']:>8.0f} {r['load1']:>8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
