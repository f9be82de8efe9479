"""Benchmark: the whole build at scale, a full build beside a daily one, with the models that cost the most.

Per size (people):

1. generate and load the synthetic data (not timed here; bench/generate_scale.py times it);
2. the full build (`outflow.pipeline.build`: dbt, the normalization and identity steps, every dbt test);
3. a day later: the dataset's as-of date a day on, 1% new events (web, email) and orders on that day, and 1% of
   the CRM contacts changed that day, appended to the raw tables, then the daily build again: incremental where
   the models are (docs/incremental.md), with its wall and CPU seconds as a share of the full build's;
4. a bare-DuckDB lower bound: the compiled SQL of the three most expensive models of the full build, run
   straight into a table of the same warehouse through outflow.warehouse, without dbt, right after the full build
   (the full build's SQL, before the day's build compiles its own). A model whose compiled SQL reads a table that
   exists only while it runs (one its pre-hook writes and its post-hook renames) is not self-contained: it is
   skipped, said so, and the next costliest model is replayed in its place.

Each build runs in its own process, so its peak memory (max RSS) is its own; each phase's peak is printed too
(each dbt part, with the models running at its highest, and each Python step between them), with the phase that
set the build's peak. Every figure is printed with wall and CPU seconds (the build process's user + system
time; DuckDB's threads are in it) and the load average, because the machine may be shared: CPU seconds per
million events is the figure that holds under load.

    .venv/bin/python bench/build_scale.py                          # 100k people
    .venv/bin/python bench/build_scale.py --people 100000,1000000,3000000
    # 3M: generate once (about 1e8 rows), then benchmark copies of it
    .venv/bin/python bench/build_scale.py --one generate /data/b3m 3000000
    .venv/bin/python bench/build_scale.py --people 3000000 --prepared /data/b3m
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAY_SHARE = 0.01
EVENT_TABLES = ("web_events", "email_events")


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run_child(script: str, *args: str) -> tuple[dict, float, float]:
    """Run ``script --one args`` in a child process: the JSON of its last output line, wall s and CPU s (the
    child's user + system). Shared by the build benchmarks."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, script, "--one", *args], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, cpu


def _child(*args: str) -> tuple[dict, float, float, float]:
    """Run this script with ``args`` in a child process: its JSON output, wall s, CPU s and peak MB."""
    out, wall, cpu = run_child(__file__, *args)
    return out, wall, cpu, out.pop("peak_mb")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since the last reset) of this process, in MB."""
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+)", f.read(), re.M).group(1)) / 1024


class PhasePeaks:
    """The wall and CPU seconds and the peak memory of each phase of `outflow.pipeline.build`: each dbt part (with
    the models running when its resident memory was highest, sampled every 50 ms) and each Python step between them
    (exact: the kernel's high-water mark, reset as the phase starts). CPU seconds are the whole process's (DuckDB's
    threads are in it). Wraps the steps where outflow.pipeline calls them."""

    STEPS = ("run_dbt", "normalize_phones", "normalize_emails", "link_fuzzy", "clear_fuzzy", "resolve_person_map")

    def __init__(self) -> None:
        self.peaks: list[tuple[str, float, str]] = []  # (phase, peak MB, what ran at the peak)
        self.seconds: list[tuple[str, float, float]] = []  # (phase, wall s, CPU s)
        self.running: dict[str, None] = {}  # the dbt nodes running now, in start order
        self._top = (0.0, "")
        self._dbt_parts = 0

    def install(self) -> None:
        import outflow.pipeline as pipeline

        for name in self.STEPS:
            setattr(pipeline, name, self._wrap(name, getattr(pipeline, name)))
        threading.Thread(target=self._sample, daemon=True).start()

    def _wrap(self, name: str, func):
        def phase(*args, **kwargs):
            label = name
            if name == "run_dbt":
                self._dbt_parts += 1
                label = f"dbt part {self._dbt_parts}"
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the memory resident now
            self._top = (0.0, "")
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds.append((label, time.perf_counter() - wall, time.process_time() - cpu))
                self.peaks.append((label, _status_mb("VmHWM"), self._top[1]))

        return phase

    def on_node(self, event: dict) -> None:
        if event.get("resource_type") != "model":
            return
        if event["event"] == "start":
            self.running[event["name"]] = None
        elif event["event"] == "done":
            self.running.pop(event["name"], None)

    def _sample(self) -> None:
        while True:
            time.sleep(0.05)
            rss = _status_mb("VmRSS")
            if rss > self._top[0]:
                self._top = (rss, ", ".join(self.running))

    def peak(self) -> tuple[str, float, str]:
        return max(self.peaks, key=lambda p: p[1])


def generate(people: int, root: Path) -> dict:
    from outflow.pipeline import generate_and_load

    result = generate_and_load(people, 42, warehouse=root / "w.duckdb", data_dir=root / "data")
    events = sum(n for t, n in result.rows.items() if t in EVENT_TABLES or t == "orders")
    return {"rows": sum(result.rows.values()), "events": events, "peak_mb": _peak_mb()}


def copy_prepared(prepared: Path, root: Path) -> dict:
    """The warehouse a `--one generate` run left in ``prepared``, copied into ``root``: its rows and events."""
    from outflow.warehouse import connect

    shutil.copy(prepared / "w.duckdb", root / "w.duckdb")
    with connect(root / "w.duckdb") as con:
        rows = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in con.tables("raw")}
    events = sum(n for t, n in rows.items() if t in EVENT_TABLES or t == "orders")
    return {"rows": sum(rows.values()), "events": events, "peak_mb": _peak_mb()}


def build(root: Path) -> dict:
    import outflow.pipeline

    phases = PhasePeaks()
    phases.install()
    run = outflow.pipeline.build(warehouse=root / "w.duckdb", on_node=phases.on_node)
    models = [r for r in run.results if r["resource_type"].endswith("model")]
    models.sort(key=lambda r: r["seconds"], reverse=True)
    return {
        "models": [(r["name"], round(r["seconds"], 2)) for r in models[:10]],
        "dbt_seconds": round(sum(r["seconds"] for r in run.results), 1),
        "phases": phases.peaks,
        "phase_seconds": phases.seconds,
        "peak_mb": max(_peak_mb(), phases.peak()[1]),
    }


def add_day(root: Path) -> dict:
    """A day later, as a daily load brings it: the dataset's as-of date one day on; 1% new web and email events and
    orders, copies under new ids moved to that day (a web event by when it arrived, so a late one occurred days
    before); 1% of the CRM contacts changed that day."""
    from datetime import date, timedelta

    from outflow.load import dataset_as_of
    from outflow.warehouse import connect

    added = {}
    with connect(root / "w.duckdb") as con:
        new_date = date.fromisoformat(dataset_as_of(con)) + timedelta(days=1)
        day = f"timestamp '{new_date}'"
        prefix = f"'d{new_date:%Y%m%d}-'"  # the day's own: a second day added to a kept warehouse adds new ids
        con.execute(f"update raw.dataset_info set as_of = cast({day} as date)")
        for table, key, clock in (
            ("web_events", "event_id", "received_at"),
            ("email_events", "event_id", "occurred_at"),
            ("orders", "order_id", "ordered_at"),
        ):
            cols = list(con.columns("raw", table))
            # each copy keeps its time of day and, on the web, the time it took to arrive
            shift = f"({day} - date_trunc('day', {clock}))"
            moved = [f"{prefix} || {c}" if c == key else f"{c} + {shift}" if c.endswith("_at") else c for c in cols]
            n = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            take = max(1, int(n * DAY_SHARE))
            con.execute(
                f"insert into raw.{table} ({', '.join(cols)}) select {', '.join(moved)} from raw.{table} "
                f"order by {key} limit {take}"
            )
            added[table] = take
        n = con.execute("select count(*) from raw.crm_contacts").fetchone()[0]
        take = max(1, int(n * DAY_SHARE))
        con.execute(
            "update raw.crm_contacts set job_title = coalesce(job_title, '') || ' II', "
            f"updated_at = updated_at + ({day} - date_trunc('day', updated_at)) "
            f"where contact_id in (select contact_id from raw.crm_contacts order by contact_id limit {take})"
        )
        added["crm_contacts changed"] = take
    return {"added": added, "peak_mb": _peak_mb()}


def lower_bound(root: Path, models: list[str], wanted: int = 3) -> dict:
    """The compiled SQL of the first ``wanted`` of ``models`` that replay on their own, each run straight into a
    table, without dbt: wall and CPU seconds. One whose SQL reads a table missing now (written by its pre-hook for
    the run alone) is skipped, with the warehouse's reason."""
    from outflow.settings import dbt_target_dir
    from outflow.warehouse import QueryError, connect

    models_dir = dbt_target_dir() / "compiled" / "outflow" / "models"  # DBT_TARGET_PATH when it is set
    # a model's own SQL, not a unit test's (those sit under the YAML file that declares them)
    compiled = {p.stem: p for p in models_dir.rglob("*.sql") if not any(x.endswith(".yml") for x in p.parts)}
    out, skipped = {}, {}
    with connect(root / "w.duckdb") as con:
        for name in models:
            if len(out) == wanted:
                break
            sql = compiled[name].read_text()
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                con.execute(f"create or replace table main.bench_lower_bound as {sql}")
            except QueryError as exc:
                skipped[name] = str(exc).splitlines()[0]
                continue
            seconds = (round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2))
            rows = con.execute("select count(*) from main.bench_lower_bound").fetchone()[0]
            out[name] = (*seconds, rows)
        con.execute("drop table if exists main.bench_lower_bound")
    return {"models": out, "skipped": skipped, "peak_mb": _peak_mb()}


def print_phases(phases: list, seconds: list) -> None:
    """Each phase's wall and CPU seconds and peak MB, and the phase that set the build's peak (with the models
    running then)."""
    print("  wall s / CPU s by phase: " + ", ".join(f"{name} {w:.1f}/{c:.1f}" for name, w, c in seconds))
    print("  peak MB by phase: " + ", ".join(f"{name} {mb:,.0f}" for name, mb, _ in phases))
    name, mb, models = max(phases, key=lambda p: p[1])
    print(f"  the peak, {mb:,.0f} MB, in {name}" + (f" (running: {models})" if models else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", default="100000", help="comma-separated sizes (e.g. 100000,1000000,3000000)")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it (one size only)")
    parser.add_argument(
        "--prepared", type=Path, help="copy the generated, not yet built warehouse in this folder (a `--one generate "
        "DIR N` run with N the one size in --people) instead of generating one"
    )  # fmt: skip
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        stage, root = args.one[0], Path(args.one[1])
        os.environ["OUTFLOW_WAREHOUSE"] = str(root / "w.duckdb")
        if stage == "generate":
            result = generate(int(args.one[2]), root)
        elif stage == "copy":
            result = copy_prepared(Path(args.one[2]), root)
        elif stage == "build":
            result = build(root)
        elif stage == "day":
            result = add_day(root)
        else:
            result = lower_bound(root, args.one[2:])
        print(json.dumps(result))
        return
    if args.prepared and not (args.prepared / "w.duckdb").is_file():
        parser.error(f"--prepared {args.prepared}: no w.duckdb there (make one with --one generate DIR N)")
    from outflow.settings import dbt_target_dir

    for people in (int(p) for p in args.people.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            tmp = str(args.keep) if args.keep else scratch
            Path(tmp).mkdir(parents=True, exist_ok=True)
            # dbt's target folder of this benchmark's own: the bare bound reads the compiled SQL the build wrote
            # there, which a dbt command run meanwhile on the same project would overwrite
            target = Path(tmp) / "dbt_target"
            target.mkdir(exist_ok=True)
            if (parsed := dbt_target_dir() / "partial_parse.msgpack").exists():
                shutil.copy(parsed, target)  # the project's parse carried over, as a second build would have it
            os.environ["DBT_TARGET_PATH"] = str(target)
            if args.prepared:
                data, _, _, _ = _child("copy", tmp, str(args.prepared))
            else:
                data, _, _, _ = _child("generate", tmp, str(people))
            mev = data["events"] / 1e6
            print(f"\n{people:,} people: {data['rows']:,} raw rows, {data['events']:,} events")
            print(f"{'build':<34} {'wall s':>8} {'CPU s':>8} {'CPU s/M events':>15} {'peak MB':>8}  load average")
            load = _load()
            full, wall, cpu, peak = _child("build", tmp)
            print(f"{'full':<34} {wall:>8.1f} {cpu:>8.1f} {cpu / mev:>15.2f} {peak:>8.0f}  {load}")
            print_phases(full["phases"], full["phase_seconds"])
            # the bound replays the full build's compiled SQL: before the day, whose build compiles its own over it
            bound_load = _load()
            bound, _, _, _ = _child("bound", tmp, *(name for name, _ in full["models"]))
            day, _, _, _ = _child("day", tmp)
            load = _load()
            daily, dwall, dcpu, dpeak = _child("build", tmp)
            label = "a day later (" + ", ".join(f"{k} {v:,}" for k, v in day["added"].items()) + ")"
            print(f"{'daily build':<34} {dwall:>8.1f} {dcpu:>8.1f} {dcpu / mev:>15.2f} {dpeak:>8.0f}  {load}")
            print_phases(daily["phases"], daily["phase_seconds"])
            print(f"  {label}; daily / full: {dwall / wall:.0%} wall, {dcpu / cpu:.0%} CPU")
            print("ten most expensive models of the daily build (dbt's own seconds):")
            for name, seconds in daily["models"]:
                print(f"  {name:<40} {seconds:>7.2f} s")
            print("ten most expensive models of the full build (dbt's own seconds):")
            for name, seconds in full["models"]:
                print(f"  {name:<40} {seconds:>7.2f} s")
            print(
                f"bare DuckDB, the full build's compiled SQL of its three biggest that replay (wall s, CPU s; load "
                f"{bound_load}):"
            )
            for name, reason in bound["skipped"].items():
                print(f"  {name:<40} not replayed, its SQL is not self-contained: {reason}")
            for name, (w, c, rows) in bound["models"].items():
                dbt_s = dict(full["models"])[name]
                print(f"  {name:<40} {w:>7.2f} s wall {c:>7.2f} s CPU, {rows:,} rows  (in dbt: {dbt_s:.2f} s)")


if __name__ == "__main__":
    main()
