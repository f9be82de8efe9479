"""Benchmark of the activation sync engine against the webhook sandbox on 127.0.0.1.

Prints, per audience size: initial sync and 1%-incremental sync (diff time, rows/s pushed, peak memory);
then a rate-limited run (achieved request rate vs allowed, % refused); then drt-core syncing the same
DuckDB table to the same sandbox endpoint (installed into a throwaway venv under /tmp, never the
project lock).

    .venv/bin/python bench/sync_engine.py                                  # 100k and 1M rows
    .venv/bin/python bench/sync_engine.py --sizes 100000,1000000,10000000  # 10M too (long; run once)
    .venv/bin/python bench/sync_engine.py --sizes 20000 --no-drt           # quick smoke
    .venv/bin/python bench/sync_engine.py --diff-only --sizes 1000000,10000000  # diff time only, no HTTP

Each size runs in its own subprocess so its peak RSS is its own. The sandbox runs in another process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET_ENV = "OUTFLOW_BENCH_WEBHOOK_SECRET"
DRT_VENV = Path(os.environ.get("OUTFLOW_DRT_VENV", "/tmp/outflow-drt-venv"))
DRT_SPEC = "drt-core[duckdb]==1.2.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _post(url: str, body: dict[str, Any] | None = None) -> None:
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST")
    urllib.request.urlopen(req, timeout=30).read()


class Sandbox:
    """The webhook sandbox in its own process."""

    def __init__(self, rate: float | None = None) -> None:
        self.port = _free_port()
        args = [sys.executable, "-m", "activations.sandboxes.webhook", "--port", str(self.port)]
        args += ["--secret-env", SECRET_ENV, "--allow-unsigned", "--discard"]
        if rate:
            args += ["--rate", str(rate)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sandbox did not start")

    def stats(self) -> dict[str, int]:
        return _get(self.url + "/_sandbox/stats")

    def reset(self) -> None:
        _post(self.url + "/_sandbox/reset")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _make_table(db: Path, rows: int) -> None:
    from outflow.warehouse import connect

    con = connect(db)
    con.execute(
        f"""CREATE OR REPLACE TABLE main.sync_bench AS
        SELECT i AS person_id, 'user' || i || '@example.com' AS email, 'name' || i AS first_name,
               (i * 7) % 100 AS score, TIMESTAMP '2026-01-01' AS updated_at
        FROM range({rows}) r(i)"""
    )
    con.close()


def _touch_share(db: Path, share: float) -> int:
    from outflow.warehouse import connect

    con = connect(db)
    step = round(1 / share)
    con.execute(
        f"UPDATE main.sync_bench SET score = score + 1000, updated_at = TIMESTAMP '2026-02-01' "
        f"WHERE person_id % {step} = 0"
    )
    (n,) = con.execute(f"SELECT count(*) FROM main.sync_bench WHERE person_id % {step} = 0").fetchone()
    con.close()
    return n


def _cfg(url: str, name: str, batch: int, concurrency: int, rate: float | None = None):  # type: ignore[no-untyped-def]
    from activations.config import SyncConfig

    dest: dict[str, Any] = {
        "type": "webhook",
        "object": "contacts",
        "base_url": url,
        "secret_env": SECRET_ENV,
        "timeout_seconds": 30,
    }
    if rate:
        dest["rate_limit"] = {"requests": rate, "per_seconds": 1}
    return SyncConfig.model_validate(
        {
            "name": name,
            "source": "sync_bench",
            "primary_key": "person_id",
            "mode": "upsert",
            "destination": dest,
            "fields": {"email": "email", "first_name": "firstName", "score": "score"},
            "batch_size": batch,
            "concurrency": concurrency,
            "thresholds": {"max_change_share": 1.0},
        }
    )


def _cpu_self() -> float:
    """CPU seconds (user + system) used by this process and its threads so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_of(pid: int) -> float:
    """CPU seconds used by another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker(args: argparse.Namespace) -> None:
    """One size: initial + incremental sync; prints one JSON line."""
    from activations.engine import run_sync

    rows, url = args.worker_rows, args.worker_url
    with tempfile.TemporaryDirectory(prefix="outflow-bench-") as d:
        db = Path(d) / "bench.duckdb"
        t = time.perf_counter()
        _make_table(db, rows)
        setup_s = time.perf_counter() - t
        cfg = _cfg(url, "bench", args.batch_size, args.concurrency)
        rpid = args.worker_receiver_pid
        c0, r0 = _cpu_self(), _cpu_of(rpid)
        first = run_sync(cfg, warehouse=db)
        c1, r1 = _cpu_self(), _cpu_of(rpid)
        changed = _touch_share(db, args.changed)
        c2, r2 = _cpu_self(), _cpu_of(rpid)
        second = run_sync(cfg, warehouse=db)
        c3, r3 = _cpu_self(), _cpu_of(rpid)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out = {
            "rows": rows,
            "setup_s": setup_s,
            "initial": {k: getattr(first, k) for k in ("diff_s", "deliver_s", "duration_s", "acked", "requests")},
            "incremental": {k: getattr(second, k) for k in ("diff_s", "deliver_s", "duration_s", "acked", "requests")},
            "changed": changed,
            "peak_rss_mb": peak_mb,
        }
        out["initial"].update(cpu_s=c1 - c0, receiver_cpu_s=r1 - r0)
        out["incremental"].update(cpu_s=c3 - c2, receiver_cpu_s=r3 - r2)
    print(json.dumps(out))


def diff_worker(args: argparse.Namespace) -> None:
    """Diff only (no HTTP): state seeded as if everything had been acknowledged, then 1% changed."""
    from activations.diff import build_diff_sql
    from activations.state import ensure_schema
    from outflow.warehouse import connect

    rows = args.worker_rows
    with tempfile.TemporaryDirectory(prefix="outflow-bench-") as d:
        db = Path(d) / "bench.duckdb"
        _make_table(db, rows)
        cfg = _cfg("http://127.0.0.1:9", "bench_diff", args.batch_size, 1)
        con = connect(db)
        ensure_schema(con)
        sql = build_diff_sql(cfg)
        t = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE d AS {sql}")
        first = time.perf_counter() - t
        con.execute("INSERT INTO outflow_sync.sync_state SELECT 'bench_diff', _key, _hash, now(), 'seed' FROM d")
        con.execute("CHECKPOINT")
        con.close()
        changed = _touch_share(db, args.changed)
        con = connect(db)
        t = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE d AS {sql}")
        second = time.perf_counter() - t
        (found,) = con.execute("SELECT count(*) FROM d").fetchone()  # type: ignore[misc]
        con.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "initial_diff_s": first, "incremental_diff_s": second,
                      "changed": changed, "found": found, "peak_rss_mb": peak_mb}))  # fmt: skip


def rate_worker(args: argparse.Namespace) -> None:
    from activations.engine import run_sync

    with tempfile.TemporaryDirectory(prefix="outflow-bench-") as d:
        db = Path(d) / "bench.duckdb"
        _make_table(db, args.worker_rows)
        cfg = _cfg(args.worker_url, "bench_rate", args.rate_batch, 4, rate=args.rate)
        res = run_sync(cfg, warehouse=db)
    print(json.dumps({"requests": res.requests, "deliver_s": res.deliver_s, "acked": res.acked,
                      "throttled": res.throttled}))  # fmt: skip


def _sub(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_drt() -> Path | None:
    """drt-core in a throwaway venv under /tmp (never in the project's lock)."""
    exe = DRT_VENV / "bin" / "drt"
    if exe.exists():
        return exe
    print(f"installing {DRT_SPEC} into {DRT_VENV} ...", flush=True)
    r1 = subprocess.run(["python3", "-m", "venv", str(DRT_VENV)], capture_output=True)
    r2 = subprocess.run([str(DRT_VENV / "bin" / "pip"), "install", "-q", DRT_SPEC], capture_output=True)
    if r1.returncode or r2.returncode or not exe.exists():
        print("could not install drt-core; skipping the comparison", flush=True)
        return None
    return exe


def drt_run(exe: Path, url: str, rows: int, batch: int, changed_share: float, sb: Sandbox) -> dict[str, Any]:
    """drt-core pushing the same table to the same endpoint: full run, then cursor-incremental run."""
    work = Path(tempfile.mkdtemp(prefix="outflow-bench-drt-"))
    try:
        db = work / "bench.duckdb"
        _make_table(db, rows)
        home = work / "home"
        (home / ".drt").mkdir(parents=True)
        (home / ".drt" / "profiles.yml").write_text(f"default:\n  type: duckdb\n  database: {db}\n")
        (work / "drt_project.yml").write_text("name: outflow_bench\nprofile: default\n")
        (work / "syncs").mkdir()
        template = (
            '{"data":{"records":[{% for row in rows %}{"op":"upsert","key":"{{ row.person_id }}",'
            '"fields":{"email":{{ row.email | tojson }},"firstName":{{ row.first_name | tojson }},'
            '"score":{{ row.score }}}}{% if not loop.last %},{% endif %}{% endfor %}]}}'
        )
        sync = textwrap.dedent(
            f"""\
            name: bench
            model: ref('sync_bench')
            destination:
              type: rest_api
              url: "{url}/contacts"
              method: POST
              headers:
                Content-Type: "application/json"
              body_mode: batch
              max_records_per_request: {batch}
              batch_template: '{template}'
            sync:
              mode: incremental
              cursor_field: updated_at
              batch_size: {batch}
              rate_limit:
                requests_per_second: 100000
              on_error: fail
            """
        )
        (work / "syncs" / "bench.yml").write_text(sync)
        env = {**os.environ, "HOME": str(home)}
        out: dict[str, Any] = {}
        for phase in ("initial", "incremental"):
            if phase == "incremental":
                out["changed"] = _touch_share(db, changed_share)
            before = sb.stats().get("rows_applied", 0)
            ch = resource.getrusage(resource.RUSAGE_CHILDREN)
            rc0 = _cpu_of(sb.proc.pid)
            t = time.perf_counter()
            r = subprocess.run([str(exe), "run"], cwd=work, env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t
            ch2 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = ch2.ru_utime + ch2.ru_stime - ch.ru_utime - ch.ru_stime
            sent = sb.stats().get("rows_applied", 0) - before
            out[phase] = {"duration_s": dt, "rows": sent, "rc": r.returncode, "cpu_s": cpu,
                          "receiver_cpu_s": _cpu_of(sb.proc.pid) - rc0}  # fmt: skip
            if r.returncode:
                out[phase]["error"] = (r.stdout + r.stderr)[-500:]
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated audience sizes")
    p.add_argument("--changed", type=float, default=0.01, help="share of rows changed for the incremental run")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rate", type=float, default=20.0, help="allowed requests/s for the rate-limited run")
    p.add_argument("--rate-seconds", type=float, default=10.0, help="length of the rate-limited run")
    p.add_argument("--rate-batch", type=int, default=100)
    p.add_argument("--no-drt", action="store_true", help="skip the drt-core comparison")
    p.add_argument("--diff-only", action="store_true", help="only time the warehouse diff (no HTTP)")
    p.add_argument("--worker-rows", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-url", help=argparse.SUPPRESS)
    p.add_argument("--worker-receiver-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-kind", default="size", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault(SECRET_ENV, "whsec_" + "b3V0Zmxvdy1iZW5jaC1zZWNyZXQtMDAwMQ==")
    if args.worker_rows:
        {"rate": rate_worker, "diff": diff_worker}.get(args.worker_kind, worker)(args)
        return

    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.diff_only:
        print(f"warehouse diff only (state seeded as fully acknowledged), {args.changed:.0%} changed")
        head = ["rows".rjust(10), "initial diff s", "incremental diff s", "found".rjust(8), "peak MB"]
        print(" | ".join(head))
        for n in sizes:
            r = _sub(["--worker-rows", str(n), "--worker-url", "-", "--worker-kind", "diff",
                      "--changed", str(args.changed)])  # fmt: skip
            assert r["found"] == r["changed"], r
            print(f"{n:>10} | {r['initial_diff_s']:>14.3f} | {r['incremental_diff_s']:>18.3f} | "
                  f"{r['found']:>8} | {r['peak_rss_mb']:>7.0f}", flush=True)  # fmt: skip
        return
    common = ["--batch-size", str(args.batch_size), "--concurrency", str(args.concurrency)]
    common += ["--changed", str(args.changed)]
    print(f"sync engine benchmark: batch {args.batch_size}, concurrency {args.concurrency}, "
          f"{args.changed:.0%} changed; {os.cpu_count()} CPUs")  # fmt: skip
    head = ["rows".rjust(10), "phase".ljust(11), "diff s".rjust(7), "sent".rjust(9), "push s".rjust(7),
            "rows/s".rjust(9), "total s".rjust(7), "peak MB".rjust(7), "sync CPU s", "recv CPU s",
            "CPU us/row"]  # fmt: skip
    print(" | ".join(head))
    print(
        "  (CPU s: processor time of the sync process (run_sync: diff, push, state commits) and of the sandbox\n"
        "   receiver during that phase; CPU us/row: both together per row sent, a load-independent cost)"
    )
    sb = Sandbox()
    try:
        for n in sizes:
            sb.reset()
            r = _sub(["--worker-rows", str(n), "--worker-url", sb.url, "--worker-receiver-pid", str(sb.proc.pid),
                      *common])  # fmt: skip
            for phase in ("initial", "incremental"):
                x = r[phase]
                rps = x["acked"] / x["deliver_s"] if x["deliver_s"] else 0.0
                per_row = (x["cpu_s"] + x["receiver_cpu_s"]) / max(1, x["acked"]) * 1e6
                cells = [f"{n:>10}", f"{phase:<11}", f"{x['diff_s']:>7.3f}", f"{x['acked']:>9}",
                         f"{x['deliver_s']:>7.2f}", f"{rps:>9.0f}", f"{x['duration_s']:>7.2f}",
                         f"{r['peak_rss_mb']:>7.0f}", f"{x['cpu_s']:>10.2f}", f"{x['receiver_cpu_s']:>10.2f}",
                         f"{per_row:>10.1f}"]  # fmt: skip
                print(" | ".join(cells), flush=True)
    finally:
        sb.stop()

    # Rate-limited run: sandbox allows --rate req/s (token bucket); client limiter set to the same rate.
    rows = int(args.rate * args.rate_seconds * args.rate_batch)
    sbr = Sandbox(rate=args.rate)
    try:
        r = _sub(["--worker-rows", str(rows), "--worker-url", sbr.url, "--worker-kind", "rate",
                  "--rate", str(args.rate), "--rate-batch", str(args.rate_batch)])  # fmt: skip
        st = sbr.stats()
    finally:
        sbr.stop()
    accepted = st.get("batches_accepted", 0)
    refused = st.get("rate_limited", 0)
    span = (st.get("last_accepted_ms", 0) - st.get("first_accepted_ms", 0)) / 1000
    sustained = (accepted - 1) / span if span > 0 else 0.0  # measured at the receiver
    end_to_end = accepted / r["deliver_s"]  # includes client start-up and the last round trip
    print(f"\nrate-limited run: allowed {args.rate:.0f} req/s, {rows} rows in batches of {args.rate_batch}: "
          f"sustained {sustained:.1f} req/s at the receiver ({sustained / args.rate:.0%} of allowed), "
          f"end to end {end_to_end:.1f} req/s ({end_to_end / args.rate:.0%}); "
          f"{refused} of {st.get('requests', 0)} requests refused "
          f"({refused / max(1, st.get('requests', 0)):.2%})")  # fmt: skip

    if args.no_drt:
        return
    exe = ensure_drt()
    if exe is None:
        return
    print(
        f"\ndrt-core ({DRT_SPEC}, rest_api batch mode, cursor incremental on updated_at), same table, "
        "same sandbox endpoint:"
    )
    sb = Sandbox()
    try:
        for n in sizes:
            sb.reset()
            r = drt_run(exe, sb.url, n, args.batch_size, args.changed, sb)
            for phase in ("initial", "incremental"):
                x = r[phase]
                rps = x["rows"] / x["duration_s"] if x["duration_s"] else 0.0
                err = f"  ERROR rc={x['rc']}: {x.get('error', '')!r}" if x["rc"] else ""
                print(f"{n:>10} | {phase:<11} | sent {x['rows']:>9} | total {x['duration_s']:>7.2f} s | "
                      f"{rps:>9.0f} rows/s (end to end, incl. process start) | drt CPU {x['cpu_s']:.2f} s | "
                      f"receiver CPU {x['receiver_cpu_s']:.2f} s{err}", flush=True)  # fmt: skip
    finally:
        sb.stop()


if __name__ == "__main__":
    main()
