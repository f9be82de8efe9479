"""Scale of the synthetic data: generate, load and dbt build at several sizes, with rows, time and peak memory.

    .venv/bin/python bench/generate_scale.py --people 100000,1000000          # generate + load
    .venv/bin/python bench/generate_scale.py --people 100000,1000000 --build  # and dbt build

Each stage runs in its own process so its peak memory (max RSS) is its own.
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
    if name == "generate+load":
        from outflow.pipeline import generate_and_load

        result = generate_and_load(people, 42, warehouse=root / "w.duckdb", data_dir=root / "data")
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
    info["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
    print(f"{'people':>10} {'stage':>14} {'seconds':>8} {'peak MB':>8}  figures")
    for people in (int(p) for p in args.people.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            for name in ["generate+load"] + (["dbt build"] if args.build else []):
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
                    if k not in ("seconds", "peak_mb")
                )
                print(
                    f"{people:>10,} {name:>14} {info['seconds']:>8.1f} {info['peak_mb']:>8.0f}  {figures}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
