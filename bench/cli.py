"""Benchmark: the fixed cost of the command line.

Three figures, each as wall and CPU seconds (the child's user + system time) with the load average, because the
machine may be shared:

- `outflow --help` (the median of five runs);
- one `outflow sync run` of a small audience, end to end: a fresh copy of a built warehouse, the sync
  `hot_leads_webhook` pointed at a webhook sandbox on 127.0.0.1 (the median of three runs); then the same with
  `OUTFLOW_DAGSTER_HISTORY=0`, the sync alone, without the process that writes its Dagster history beside it;
- `make demo` after set-up (once; `--demo`), and the wall seconds of each of its stages as it prints them;
- `outflow sandbox > file`: from the start of the process to its first URL in the file (the median of three;
  wall only, the server keeps running).

Usage:  .venv/bin/python bench/cli.py [--warehouse warehouse/outflow.duckdb] [--demo]
The sync figure needs a built warehouse: run `make demo` first (or pass --demo, which runs it first).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTFLOW = ROOT / ".venv" / "bin" / "outflow"
SYNC = "hot_leads_webhook"
NAME = "bench_hot_leads_webhook"


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def timed(cmd: list[str], env: dict[str, str] | None = None, out: list[str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child and its children) of one command; ``out`` gets its
    stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if out is not None:
        out.append(proc.stdout)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def demo_stages(stdout: str) -> list[tuple[str, float]]:
    """The demo's own stage times (its summary's `time: <stage>` rows, wall seconds)."""
    found = re.findall(r"^time: (.+?)\s+([\d.]+) s$", stdout, flags=re.MULTILINE)
    return [(name, float(seconds)) for name, seconds in found]


def median_of(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def sync_run(warehouse: Path, repeats: int, history: bool = True) -> tuple[tuple[float, float], str]:
    sys.path.insert(0, str(ROOT))
    from activations.sandboxes.testing import make_secret
    from activations.sandboxes.webhook import WebhookSandbox

    source = (ROOT / "activations" / "syncs" / f"{SYNC}.yml").read_text()
    runs = []
    secret = make_secret()
    with WebhookSandbox(secret) as sandbox, tempfile.TemporaryDirectory() as tmp:
        syncs = Path(tmp) / "syncs"
        syncs.mkdir()
        # a sync of its own name, so the demo's sync state does not make it a no-op
        config = source.replace(f"name: {SYNC}", f"name: {NAME}").replace("http://127.0.0.1:8790", sandbox.url)
        (syncs / f"{NAME}.yml").write_text(config)
        for i in range(repeats):
            copy = Path(tmp) / f"run{i}" / "outflow.duckdb"
            copy.parent.mkdir()
            shutil.copyfile(warehouse, copy)
            env = {
                **os.environ,
                "OUTFLOW_WAREHOUSE": str(copy),
                "OUTFLOW_SYNCS_DIR": str(syncs),
                "OUTFLOW_WEBHOOK_SECRET": secret,
                "OUTFLOW_DAGSTER_HISTORY": "1" if history else "0",
            }
            runs.append(timed([str(OUTFLOW), "sync", "run", NAME], env=env))
        held = f"{len(sandbox.records('contacts'))} contacts"
    return median_of(runs), held


def sandbox_first_url(repeats: int = 3) -> float:
    """Seconds from starting `outflow sandbox` with its output in a file to the first URL in that file."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sandbox.txt"
        for _ in range(repeats):
            with out.open("w") as fh:
                start = time.perf_counter()
                proc = subprocess.Popen([str(OUTFLOW), "sandbox", "--port-base", "0"], cwd=ROOT, stdout=fh,
                                        stderr=subprocess.STDOUT)  # fmt: skip
                try:
                    while "http://" not in out.read_text():
                        if proc.poll() is not None or time.perf_counter() - start > 60:
                            sys.exit(f"outflow sandbox printed no URL:\n{out.read_text()[-2000:]}")
                        time.sleep(0.005)
                    times.append(time.perf_counter() - start)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=ROOT / "warehouse" / "outflow.duckdb")
    parser.add_argument("--demo", action="store_true", help="also time `make demo` (about a minute)")
    args = parser.parse_args()
    rows: list[tuple[str, float, float, str]] = []
    if args.demo:
        load = _load()
        out: list[str] = []
        wall, cpu = timed(["make", "demo"], out=out)
        rows.append(("make demo", wall, cpu, load))
        stages = demo_stages(out[0])
        rows += [(f"  demo stage: {name} (wall only)", seconds, float("nan"), "") for name, seconds in stages]
    load = _load()
    wall, cpu = median_of([timed([str(OUTFLOW), "--help"]) for _ in range(5)])
    rows.append(("outflow --help", wall, cpu, load))
    load = _load()
    rows.append(("outflow sandbox > file: first URL (wall only)", sandbox_first_url(), float("nan"), load))
    if args.warehouse.exists():
        load = _load()
        (wall, cpu), held = sync_run(args.warehouse, 3)
        rows.append((f"outflow sync run {SYNC} ({held})", wall, cpu, load))
        load = _load()
        (wall, cpu), held = sync_run(args.warehouse, 3, history=False)
        rows.append(("  the same, OUTFLOW_DAGSTER_HISTORY=0 (the sync alone)", wall, cpu, load))
    else:
        print(f"no warehouse at {args.warehouse}: run `make demo` first for the sync figure", file=sys.stderr)
    print(f"{'command':<60} {'wall s':>7} {'CPU s':>7}  load average (1/5/15 min) at start")
    for name, wall, cpu, load in rows:
        print(f"{name:<60} {wall:>7.2f} {cpu:>7.2f}  {load}")


if __name__ == "__main__":
    main()
