"""Benchmark: where the CPU of a full build goes. SQL (models, data tests) against dbt's own per-node cost.

Per size (people), each stage in its own process:

1. generate and load the synthetic data (not timed);
2. the full build (`outflow.pipeline.build`), with the CPU of the Python steps between its dbt parts (phone and
   email normalization, the person map) taken apart, and dbt's own seconds per node;
3. a replay of the SQL that build ran: the compiled SQL of every table and incremental model, run straight into a
   scratch table through outflow.warehouse, and every data test's query counted the way dbt counts it. Views cost
   nothing when created: their SQL runs inside the models and tests that read them.

The build's CPU (user + system of its process, DuckDB's threads included) splits into the replayed SQL of the
models, that of the data tests, the Python steps, and the rest: dbt's own cost (parsing, compiling, the metadata
queries, seeds, the snapshot, unit tests on fixtures, threads), a fixed cost per node that does not grow with
the data. SQL CPU per million events is the figure that grows with the data; the load average is printed
beside every figure, because the machine may be shared.

    .venv/bin/python bench/build_profile.py                         # 100k people
    .venv/bin/python bench/build_profile.py --people 100000,300000
    .venv/bin/python bench/build_profile.py --warehouse W.duckdb    # a loaded (raw) warehouse, built in place

With `--cprofile OUT.prof` the build of `--warehouse` (a loaded one, or a built one with a day added: a daily build)
runs under cProfile instead, in every thread (dbt runs its nodes on a thread pool), timed by each thread's CPU
clock, and what follows is where dbt's own time goes, per invocation and per node: the manifest loaded (partial
parse), the relation cache, the artifacts written, compiling, the SQL run (the calling thread's share only: DuckDB's
own threads are not Python's). cProfile slows Python down, so its seconds are shares, not CPU:

    .venv/bin/python bench/build_profile.py --warehouse DAY.duckdb --cprofile /tmp/daily.prof
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
from collections import defaultdict
from pathlib import Path

EVENT_TABLES = ("web_events", "email_events", "orders")
STEPS = ("normalize_phones", "normalize_emails", "link_fuzzy", "clear_fuzzy", "resolve_person_map")


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(*args: str) -> tuple[dict, float, float]:
    """Run this script with ``args`` in a child process: its JSON output, wall s and CPU s."""
    from build_scale import run_child  # bench/ is on the path when a bench script runs

    return run_child(__file__, *args)


def generate(people: int, warehouse: Path) -> dict:
    from outflow.pipeline import generate_and_load

    generate_and_load(people, 42, warehouse=warehouse, data_dir=warehouse.parent / "data")
    return {}


def build(warehouse: Path) -> dict:
    """The full build, with the CPU of each Python step between the dbt parts."""
    from outflow import pipeline

    steps: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        def run(*args, **kwargs):
            start = _cpu()
            try:
                return fn(*args, **kwargs)
            finally:
                steps[name] += _cpu() - start

        return run

    for name in STEPS:
        setattr(pipeline, name, timed(name, getattr(pipeline, name)))
    run = pipeline.build(warehouse=warehouse)
    nodes = defaultdict(lambda: [0, 0.0])
    for r in run.results:
        kind = r["resource_type"].rsplit(".", 1)[-1].lower()
        nodes[kind][0] += 1
        nodes[kind][1] += r["seconds"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"steps": dict(steps), "nodes": dict(nodes), "peak_mb": peak_mb}


#: Where dbt's own time goes: a label and the functions (file suffix, name) whose cumulative time it is.
DBT_PARTS = (
    ("load the manifest (partial parse)", ("dbt/parser/manifest.py", "get_full_manifest")),
    ("populate the relation cache", ("dbt/task/runnable.py", "populate_adapter_cache")),
    ("write manifest.json", ("dbt/contracts/graph/manifest.py", "write")),
    ("select the nodes", ("dbt/graph/selector.py", "get_selected")),
    ("compile the nodes", ("dbt/compilation.py", "compile_node")),
    ("SQL in DuckDB (dbt-duckdb's cursor)", ("dbt/adapters/duckdb/environments/local.py", "execute")),
    ("log events (formatted, scrubbed of secrets)", ("dbt_common/events/functions.py", "fire_event")),
)


def cprofile(warehouse: Path, out: Path) -> dict:
    """The build under cProfile, in the main thread and in every thread started meanwhile (dbt's node threads):
    the merged profile in ``out``, and dbt's invocations and nodes with the cumulative seconds of DBT_PARTS."""
    import cProfile
    import pstats
    import threading
    import time

    from outflow import pipeline

    profiles = [cProfile.Profile(time.thread_time)]
    thread_run = threading.Thread.run

    def profiled(self):
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.runcall(thread_run, self)

    threading.Thread.run = profiled
    try:
        run = profiles[0].runcall(pipeline.build, warehouse=warehouse)
    finally:
        threading.Thread.run = thread_run
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    stats.dump_stats(out)
    parts: dict[str, float] = {}
    for label, *functions in DBT_PARTS:
        parts[label] = sum(
            stat[3]
            for (file, _, name), stat in stats.stats.items()
            for suffix, func in functions
            if file.endswith(suffix) and name == func
        )
    invocations = sum(
        stat[1] for (f, _, n), stat in stats.stats.items() if f.endswith("dbt/cli/main.py") and n == "invoke"
    )
    return {"seconds": stats.total_tt, "parts": parts, "invocations": invocations, "nodes": len(run.results)}


def _compiled(node: dict) -> Path:
    from outflow.settings import dbt_target_dir

    base = dbt_target_dir() / "compiled" / "outflow" / node["original_file_path"]
    return base / node["path"] if node["resource_type"] == "test" else base


def replay(warehouse: Path) -> dict:
    """The compiled SQL of every table and incremental model, and of every data test, with its CPU seconds."""
    from outflow.settings import dbt_target_dir
    from outflow.warehouse import connect

    manifest = json.loads((dbt_target_dir() / "manifest.json").read_text())
    models, tests = {}, {}
    with connect(warehouse) as con:
        events = sum(con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in EVENT_TABLES)
        for node in manifest["nodes"].values():
            kind = node["resource_type"]
            materialized = node["config"].get("materialized")
            if not (kind == "test" or (kind == "model" and materialized in ("table", "incremental"))):
                continue
            path = _compiled(node)
            if not path.exists():
                continue
            sql = path.read_text().strip().rstrip(";")
            start = _cpu()
            if kind == "model":
                con.execute(f"create or replace table main.bench_replay as {sql}")
                models[node["name"]] = round(_cpu() - start, 3)
            else:
                con.execute(f"select count(*) from ({sql}) as dbt_internal_test")
                tests[node["name"]] = round(_cpu() - start, 3)
        con.execute("drop table if exists main.bench_replay")
    return {"events": events, "models": models, "tests": tests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", default="100000", help="comma-separated sizes (e.g. 100000,300000)")
    parser.add_argument("--warehouse", type=Path, help="build this loaded warehouse in place instead of generating")
    parser.add_argument("--top", type=int, default=15, help="how many of the costliest models and tests to list")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep the warehouse (one size only)")
    parser.add_argument("--cprofile", type=Path, help="profile the build of --warehouse into this file (above)")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cprofile:
        if not args.warehouse:
            parser.error("--cprofile needs --warehouse")
        _print_profile(args.warehouse, args.cprofile)
        return
    if args.one:
        stage, warehouse = args.one[0], Path(args.one[1])
        os.environ["OUTFLOW_WAREHOUSE"] = str(warehouse)
        funcs = {"generate": lambda: generate(int(args.one[2]), warehouse), "build": lambda: build(warehouse)}
        print(json.dumps(funcs.get(stage, lambda: replay(warehouse))()))
        return
    sizes = [None] if args.warehouse else [int(p) for p in args.people.split(",")]
    report = []
    for people in sizes:
        with tempfile.TemporaryDirectory() as scratch:
            folder = args.keep or Path(scratch)
            folder.mkdir(parents=True, exist_ok=True)
            warehouse = args.warehouse or folder / "w.duckdb"
            if people:
                _child("generate", str(warehouse), str(people))
            load = _load()
            built, wall, cpu = _child("build", str(warehouse))
            replayed, _, _ = _child("replay", str(warehouse))
            report.append(_print(people, load, wall, cpu, built, replayed, args.top))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def _print_profile(warehouse: Path, out: Path) -> None:
    load = _load()
    os.environ["OUTFLOW_WAREHOUSE"] = str(warehouse)
    start = _cpu()
    found = cprofile(warehouse, out)
    cpu = _cpu() - start
    total, nodes, runs = found["seconds"], found["nodes"], found["invocations"]
    print(f"the build under cProfile: {cpu:.1f} s CPU, {total:.1f} profiled s in every thread; {runs} dbt "
          f"invocations, {nodes} nodes; load average {load} (profile in {out})")  # fmt: skip
    print(f"{'part (cumulative, every thread)':<44} {'s':>7} {'share':>6} {'per invocation':>15} {'per node ms':>12}")
    for label, seconds in found["parts"].items():
        print(f"{label:<44} {seconds:>7.2f} {seconds / total:>6.0%} {seconds / max(runs, 1):>15.2f} "
              f"{seconds / max(nodes, 1) * 1000:>12.1f}")  # fmt: skip


def _print(people: int | None, load: str, wall: float, cpu: float, built: dict, replayed: dict, top: int) -> dict:
    mev = replayed["events"] / 1e6
    models, tests = sum(replayed["models"].values()), sum(replayed["tests"].values())
    steps = sum(built["steps"].values())
    rest = cpu - models - tests - steps
    nodes = sum(n for n, _ in built["nodes"].values())
    print(f"\n{people or 'the given warehouse'}: {replayed['events']:,} events; load average {load}")
    print(f"full build: {wall:.1f} s wall, {cpu:.1f} s CPU ({cpu / mev:.2f} CPU s per million events), "
          f"{built['peak_mb']:.0f} MB peak")  # fmt: skip
    print(f"{'part of the build CPU':<52} {'CPU s':>8} {'share':>6} {'per M events':>13}")
    for label, value in (
        (f"models' SQL ({len(replayed['models'])} tables, replayed)", models),
        (f"data tests' SQL ({len(replayed['tests'])}, replayed)", tests),
        ("Python steps (" + ", ".join(f"{k} {v:.1f}" for k, v in built["steps"].items() if v >= 0.05) + ")", steps),
        (f"dbt's own cost, {nodes} nodes ({rest / max(nodes, 1) * 1000:.0f} ms per node)", rest),
    ):
        print(f"{label:<52} {value:>8.1f} {value / cpu:>6.0%} {value / mev:>13.2f}")
    print("dbt's own seconds per node type (wall, threads overlap): " + ", ".join(
        f"{kind} {n} in {s:.1f} s" for kind, (n, s) in sorted(built["nodes"].items())))  # fmt: skip
    for title, figures in (("models", replayed["models"]), ("data tests", replayed["tests"])):
        print(f"costliest {title} (replayed CPU s):")
        for name, seconds in sorted(figures.items(), key=lambda x: -x[1])[:top]:
            print(f"  {name:<64} {seconds:>7.2f}")
    return {"people": people, "load": load, "wall": wall, "cpu": cpu, "build": built, "replay": replayed}


if __name__ == "__main__":
    main()
