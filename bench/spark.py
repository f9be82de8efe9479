"""DuckDB beside local Spark on the same data: load, the whole build, the identity step and a sync dry run.

    .venv/bin/python bench/spark.py --sizes 20000,100000
    .venv/bin/python bench/spark.py --sizes 1000000,10000000     # the issue's sizes: a machine with room for them

bench/warehouses.py's measurement (`run_one`: the real loader, `outflow.pipeline.build`, the identity step timed
inside it, a dry run of one real sync) on the same generated files (seed 42), once with OUTFLOW_TARGET=duckdb and
once with OUTFLOW_TARGET=spark (this process's SparkSession, `local[2]`, Parquet tables). Each (size, target)
runs in its own process. Spark's work happens in its JVM, a child process that is still running when the stages
are timed, so the stage CPU columns hold the Python side only; the JVM's CPU seconds and peak memory (VmHWM)
over the whole run are printed beside them (the JVM's CPU includes its finished children: the Python workers
that resolve the identity groups). On Spark the identity step groups the graph by label propagation in Spark SQL
and resolves each bucket of groups on the executors (outflow/label_propagation.py); the sync reads the model
from Spark into the state store.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from warehouses import _fmt, run_one  # noqa: E402  (bench/warehouses.py, beside this file)


def _jvm() -> tuple[float, float]:
    """CPU seconds (its own and its reaped children's) and peak resident MB of this process's Spark JVM (0, 0 when
    there is none)."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) != os.getpid() or "java" not in stat[: stat.rindex(")")]:
                continue
            status = (entry / "status").read_text()
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        hwm = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:")), 0)
        return sum(int(f) for f in fields[11:15]) / tick, hwm / 1024
    return 0.0, 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000", help="people, comma-separated")
    parser.add_argument("--no-sync", action="store_true", help="leave out the sync dry run")
    parser.add_argument("--no-duckdb", action="store_true", help="leave out the DuckDB run")
    parser.add_argument("--tune", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting to compare")
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        target, data, work, sync, tuned = args.one
        os.environ["OUTFLOW_SPARK_WAREHOUSE"] = str(Path(work) / "spark")
        from outflow.warehouse import spark

        spark.LOCAL_CONF.update(json.loads(tuned))
        figures = run_one(target, Path(data), Path(work), None, None, sync == "1")
        figures["jvm_cpu"], figures["jvm_peak_mb"] = _jvm()
        print(json.dumps(figures))
        return

    print("wall and CPU seconds per stage (Python side); JVM = Spark's CPU seconds and peak MB over the whole run")
    head = f"{'people':>9} {'target':>7} {'raw rows':>11} | {'load':>17} | {'build':>17} | {'identity step':>17} |"
    print(head + f" {'sync dry run':>17} | {'peak MB':>7} | {'JVM CPU':>8} {'JVM MB':>7} | {'load avg':>9}")
    for people in (int(p) for p in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            from outflow.generate import generate

            generate(people, 42, data)
            tuned = dict(t.split("=", 1) for t in args.tune)
            runs = [("duckdb", {})] * (not args.no_duckdb) + [("spark", {})] + [("spark", tuned)] * bool(tuned)
            for target, conf in runs:
                name = target + "+" * bool(conf)
                work = Path(tmp) / name
                work.mkdir()
                sync = "0" if args.no_sync else "1"
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", target, str(data), str(work), sync, json.dumps(conf)],
                    capture_output=True,
                    text=True,
                )
                if proc.returncode != 0:
                    print(f"{people:>9,} {name:>7}  failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(
                    f"{people:>9,} {name:>7} {r['raw_rows']:>11,} | {_fmt(r['load'])} | {_fmt(r['build'])} | "
                    f"{_fmt(r['identity_step'])} | {_fmt(r['diff'])} | {r['peak_mb']:>7.0f} | "
                    f"{r['jvm_cpu']:>8.1f} {r['jvm_peak_mb']:>7.0f} | {r['load_avg_start']:>4}-{r['load_avg_end']:<4}",
                    flush=True,
                )
                if conf:
                    print(f"{'':>18} spark+: {', '.join(args.tune)}")
                if "diff_error" in r:
                    print(f"{'':>18} sync dry run not run on {target}: {r['diff_error']}")


if __name__ == "__main__":
    main()
