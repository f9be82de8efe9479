"""DuckDB against PostgreSQL, side by side: load, the whole build, the identity step and a sync diff.

    .venv/bin/python bench/warehouses.py --sizes 100000,1000000
    .venv/bin/python bench/warehouses.py --sizes 20000 --pg-url postgresql://user@host:5432/db   # your server

The same generated files (seed 42) are loaded into a DuckDB file and into PostgreSQL (a throwaway local server,
Debian's postgresql-15, unless --pg-url names one), then built with `outflow.pipeline.build` (dbt in three parts
with the phone and identity steps between them). The identity step (pull the graph, resolve, write the person
map back) is timed on its own inside the build. Last, a dry run of one real sync from the built activation model
computes its diff against the acknowledged state.

`--diff-rows 1000000` times the sync diff alone on a table of that many audience rows (no dbt build): a real
first run of a mirror sync to a file destination (Parquet, batches of 100k) fills the sync state, 1% of the rows
change, and a dry run diffs them against the state.

Each (size, target) runs in its own process, so peak memory is its own. CPU seconds are the bench process's
(dbt, DuckDB and the Python steps run in it) plus, on PostgreSQL, the server's (the postmaster and every backend
it reaped). The machine is shared: the load average is printed beside every row, and the ratio between the two
targets measured in one run is the figure to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from outflow.local_postgres import LocalPostgres

SYNC = "lapsed_customers_klaviyo"  # a mirror sync of an email audience (main.sync_lapsed_customers_email)


def _proc_stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on; the name may hold spaces


def _server_cpu(data_dir: Path | None) -> float:
    """CPU seconds of a local PostgreSQL server so far: the postmaster, its live children and reaped backends."""
    if data_dir is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    f = _proc_stat(pid)
    total = sum(int(x) for x in f[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                c = _proc_stat(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            if int(c[1]) == pid:  # a live backend or worker
                total += int(c[11]) + int(c[12])
    return total / tick


class Clock:
    """Wall and CPU seconds (this process with its children, plus the PostgreSQL server when there is one)."""

    def __init__(self, server_dir: Path | None) -> None:
        self.server_dir = server_dir

    def _cpu(self) -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + _server_cpu(self.server_dir)

    def __enter__(self) -> Clock:
        self.t0, self.c0 = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.t0, self._cpu() - self.c0


def run_one(target: str, data: Path, work: Path, url: str | None, server_dir: Path | None, sync: bool) -> dict:
    """Load, build (identity step timed apart) and diff one sync on one target; print figures as JSON."""
    os.environ["OUTFLOW_TARGET"] = target
    os.environ["OUTFLOW_WAREHOUSE"] = str(work / "outflow.duckdb")
    if url:
        os.environ["OUTFLOW_POSTGRES_URL"] = url
    import outflow.pipeline as pipeline
    from activations.config import load_sync
    from activations.engine import run_sync
    from activations.sandboxes.testing import make_secret
    from outflow import settings
    from outflow.contract import GATING_TABLES
    from outflow.load import load_directory
    from outflow.warehouse import connect

    out: dict = {"target": target, "load_avg_start": round(os.getloadavg()[0], 2)}
    with Clock(server_dir) as c, connect() as wh:
        result = load_directory(wh, data, allow_empty=GATING_TABLES)
    out["raw_rows"] = sum(result.rows.values())
    out["load"] = (c.wall, c.cpu)

    step: dict[str, tuple[float, float]] = {}
    resolve = pipeline.resolve_person_map

    def timed_resolve(wh):  # the identity step, timed inside the real build
        with Clock(server_dir) as sc:
            r = resolve(wh)
        step["identity"] = (sc.wall, sc.cpu)
        return r

    pipeline.resolve_person_map = timed_resolve
    with Clock(server_dir) as c:
        run = pipeline.build(on_node=_progress(target, c))
    out["build"] = (c.wall, c.cpu)
    out["build_ok"] = run.success
    out["identity_step"] = step.get("identity", (float("nan"), float("nan")))

    if not sync:
        out["diff_error"] = "skipped (--no-sync)"
        return _finish(out)
    cfg = load_sync(settings.PROJECT_ROOT / "activations" / "syncs" / f"{SYNC}.yml")
    os.environ[cfg.destination.secret_env] = make_secret()  # a dry run sends nothing; the secret is a placeholder
    try:
        with Clock(server_dir) as c:
            res = run_sync(cfg, dry_run=True)
        out["diff"] = (c.wall, c.cpu)  # the whole dry run: source check, quality gate, consent filter, diff
        out["diff_only_wall"] = res.diff_s
        out["diff_rows"] = res.added + res.changed + res.removed
    except Exception as exc:  # noqa: BLE001 - a target the engine does not run on yet is a figure too
        out["diff"] = (float("nan"), float("nan"))
        out["diff_error"] = " ".join(str(exc).split())[:120]
    return _finish(out)


def _progress(target: str, clock: Clock):  # type: ignore[no-untyped-def]
    """Each dbt node as it finishes, on stderr with the build's wall and CPU so far: how far a long build got."""

    def on_node(ev: dict) -> None:
        if ev.get("event") == "done":
            wall, cpu = time.perf_counter() - clock.t0, clock._cpu() - clock.c0
            print(f"  {target} {wall:8.1f} {cpu:8.1f}  {ev.get('index')}/{ev.get('total')} {ev.get('name')}",
                  file=sys.stderr, flush=True)  # fmt: skip

    return on_node


def run_diff(target: str, rows: int, work: Path, url: str | None, server_dir: Path | None) -> dict:
    """The sync diff on ``rows`` audience rows: a first real run fills the state, 1% change, a dry run diffs."""
    os.environ["OUTFLOW_TARGET"] = target
    os.environ["OUTFLOW_WAREHOUSE"] = str(work / "outflow.duckdb")
    if url:
        os.environ["OUTFLOW_POSTGRES_URL"] = url
    from activations.engine import run_sync
    from activations.sandboxes.testing import make_audience, sync_dict, write_sync
    from outflow.warehouse import connect

    out: dict = {"target": target, "rows": rows, "load_avg_start": round(os.getloadavg()[0], 2)}
    with Clock(server_dir) as c, connect() as wh:
        make_audience(wh, rows=rows)
    out["write"] = (c.wall, c.cpu)
    dest = {"type": "file", "base_url": (work / "export").as_uri(), "options": {"format": "parquet"}}
    d = sync_dict("", name="bench_diff", destination=dest, batch_size=100_000)
    d["destination"] = {k: v for k, v in d["destination"].items() if k != "secret_env"}
    cfg = write_sync(work / "syncs", d)
    with Clock(server_dir) as c:
        first = run_sync(cfg)
    out["first_run"], out["first_diff_wall"], out["first_added"] = (c.wall, c.cpu), first.diff_s, first.added
    with connect() as wh:
        wh.execute("update main.sync_contacts set score = score + 1 where person_id % 100 = 0")
    with Clock(server_dir) as c:
        again = run_sync(cfg, dry_run=True)
    out["dry_run"], out["diff_wall"], out["changed"] = (c.wall, c.cpu), again.diff_s, again.changed
    return _finish(out)


def _diff_table(rows: int, pg_url: str | None) -> None:
    print("wall and CPU seconds; CPU includes the PostgreSQL server's; diff = the diff query alone (wall)")
    print(f"{'rows':>9} {'target':>8} | {'write table':>17} | {'first run':>17} {'diff':>6} {'added':>9} | "
          f"{'dry run, 1% changed':>19} {'diff':>6} {'changed':>8} | {'peak MB':>7} {'load avg':>9}")  # fmt: skip
    for target in ("duckdb", "postgres"):
        with tempfile.TemporaryDirectory() as tmp:
            r = _in_process(target, ["--one-diff", target, str(rows), tmp], pg_url)
            if r is None:
                continue
            print(
                f"{rows:>9,} {target:>8} | {_fmt(r['write'])} | {_fmt(r['first_run'])} {r['first_diff_wall']:6.2f} "
                f"{r['first_added']:>9,} | {_fmt(r['dry_run']):>19} {r['diff_wall']:6.2f} {r['changed']:>8,} | "
                f"{r['peak_mb']:>7.0f} {r['load_avg_start']:>4}-{r['load_avg_end']:<4}",
                flush=True,
            )


def _in_process(target: str, args: list[str], pg_url: str | None, progress: bool = False) -> dict | None:
    """Run this script with ``args`` plus the PostgreSQL URL and data dir (a throwaway server unless given)."""
    server = LocalPostgres() if target == "postgres" and not pg_url else None
    try:
        url = pg_url if target == "postgres" else ""
        if server is not None:
            url = server.start().url
        server_dir = str(server.root / "data") if server is not None and server.root else ""
        cmd = [sys.executable, __file__, *args, url or "", server_dir]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if progress else subprocess.PIPE, text=True)
    finally:
        if server is not None:
            server.stop()
    if proc.returncode != 0:
        print(f"{target:>8} failed: {(proc.stderr or '(see above)').strip().splitlines()[-1:]}", flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _finish(out: dict) -> dict:
    out.setdefault("diff", (float("nan"), float("nan")))
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["load_avg_end"] = round(os.getloadavg()[0], 2)
    return out


def _fmt(pair: tuple[float, float]) -> str:
    wall, cpu = pair
    return f"{wall:8.1f} {cpu:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="people, comma-separated")
    parser.add_argument("--pg-url", default=None, help="an existing PostgreSQL (default: a throwaway local one)")
    parser.add_argument("--no-sync", action="store_true", help="leave out the sync dry run")
    parser.add_argument("--diff-rows", type=int, help="only the sync diff, on a table of this many rows")
    parser.add_argument("--targets", default="duckdb,postgres", help="targets to run, comma-separated")
    parser.add_argument("--progress", action="store_true", help="print each dbt node as the build finishes it")
    parser.add_argument("--one", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--one-diff", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_diff:
        target, rows, work, url, server = args.one_diff
        print(json.dumps(run_diff(target, int(rows), Path(work), url or None, Path(server) if server else None)))
        return
    if args.diff_rows:
        _diff_table(args.diff_rows, args.pg_url)
        return
    if args.one:
        target, data, work, sync, url, server = args.one
        figures = run_one(target, Path(data), Path(work), url or None, Path(server) if server else None, sync == "1")
        print(json.dumps(figures))
        return

    print("wall and CPU seconds per stage; CPU includes the PostgreSQL server's; load = 1-min load average")
    head = f"{'people':>9} {'target':>8} {'raw rows':>11} | {'load':>17} | {'build':>17} | {'identity step':>17} |"
    print(head + f" {'sync dry run':>17} {'diff':>6} | {'peak MB':>7} {'load avg':>9}")
    for people in (int(p) for p in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            from outflow.generate import generate

            generate(people, 42, data)
            rows: dict[str, dict] = {}
            for target in args.targets.split(","):
                work = Path(tmp) / target
                work.mkdir()
                sync = "0" if args.no_sync else "1"
                r = _in_process(target, ["--one", target, str(data), str(work), sync], args.pg_url, args.progress)
                if r is None:
                    continue
                rows[target] = r
                diff = f"{_fmt(r['diff'])} {r['diff_only_wall']:6.2f}" if "diff_error" not in r else f"{'n/a':>24}"
                print(
                    f"{people:>9,} {target:>8} {r['raw_rows']:>11,} | {_fmt(r['load'])} | {_fmt(r['build'])} | "
                    f"{_fmt(r['identity_step'])} | {diff:>24} | {r['peak_mb']:>7.0f} "
                    f"{r['load_avg_start']:>4}-{r['load_avg_end']:<4}",
                    flush=True,
                )
                if "diff_error" in r:
                    print(f"{'':>19} sync diff not run on {target}: {r['diff_error']}")
            if len(rows) == 2:
                d, p = rows["duckdb"], rows["postgres"]
                ratios = ", ".join(
                    f"{stage} {p[stage][1] / d[stage][1]:.1f}x"
                    for stage in ("load", "build", "identity_step", "diff")
                    if d[stage][1] == d[stage][1] and p[stage][1] == p[stage][1] and d[stage][1] > 0
                )
                print(f"{people:>9,} postgres/duckdb CPU: {ratios}")


if __name__ == "__main__":
    main()
