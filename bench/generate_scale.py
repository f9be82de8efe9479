"""Scale of the synthetic data: generate, load and dbt build at several sizes, with rows, time and peak memory.

    .venv/bin/python bench/generate_scale.py --people 100000,1000000          # generate, then load
    .venv/bin/python bench/generate_scale.py --people 100000,1000000 --build  # and dbt build

Each stage (generate, load, build) runs in its own process so its peak memory (max RSS) is its own, printed with
its wall and CPU seconds and the load average (the machine may be shared).
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


def stage(name: str, people: int, root: Path) -> dict:
    os.environ["OUTFLOW_WAREHOUSE"] = str(root / "w.duckdb")
    t = time.perf_counter()
    info: dict = {}
    if name == "generate":
        from outflow.generate import generate

        generate(people, 42, root / "data")
    elif name == "load":
        # `outflow load` of the generated files: phase 1 checks them in a file engine, phase 2 writes them all in
        # one transaction (outflow/load.py), its peak apart from the generator's
        from outflow.contract import GATING_TABLES
        from outflow.load import load_directory
        from outflow.warehouse import connect

        with connect(root / "w.duckdb") as con:
            result = load_directory(con, root / "data", allow_empty=GATING_TABLES)
        info["rows"] = sum(result.rows.values())
        info["events"] = sum(v for k, v in result.rows.items() if "events" in k or k == "orders")
    else:
        from outflow.pipeline import build, summarize

        build(warehouse=root / "w.duckdb")
        summary = summarize(root / "w.duckdb")
        info["profiles"] = summary.persons
        if summary.accuracy:
            info["precision"] = round(summary.accuracy.precision, 4)
            info["recall"] = round(summary.accuracy.recall, 4)
    info["seconds"] = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_SELF)
    info["cpu_s"] = usage.ru_utime + usage.ru_stime
    info["peak_mb"] = usage.ru_maxrss / 1024
    info["load"] = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", default="100000,1000000")
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(stage(args.one[0], int(args.one[1]), Path(args.one[2]))))
        return
    print(f"{'people':>10} {'stage':>10} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'load average':>14}  figures")
    for people in (int(p) for p in args.people.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            for name in ["generate", "load"] + (["dbt build"] if args.build else []):
                out = subprocess.run(
                    [sys.executable, __file__, "--one", name, str(people), tmp],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                info = json.loads(out.stdout.strip().splitlines()[-1])
                figures = ", ".join(
                    f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                    for k, v in info.items()
                    if k not in ("seconds", "cpu_s", "peak_mb", "load")
                )
                print(
                    f"{people:>10,} {name:>10} {info['seconds']:>8.1f} {info['cpu_s']:>8.1f} {info['peak_mb']:>8.0f} "
                    f"{info['load']:>14}  {figures}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
