"""Benchmark: rows/s pushed to each vendor sandbox with that vendor's rate limit enforced, beside the
theoretical ceiling (allowed requests/s x rows per request / calls per batch).

    .venv/bin/python bench/destinations.py                        # sizes 500,2000 (small, quick)
    .venv/bin/python bench/destinations.py --sizes 1000,5000,20000 --batch-size 100

The sandboxes run in this process (threads) on 127.0.0.1 with ``real_rate_limit=True``; each sync declares
the same limit in ``destination.rate_limit`` so the client paces itself. ``--batch-size`` (default: each
vendor's own maximum) makes runs longer than the vendors' burst allowance so the steady rate shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from activations.destinations import DESTINATIONS  # noqa: E402
from activations.engine import run_sync  # noqa: E402
from activations.sandboxes import vendor_sandboxes  # noqa: E402
from activations.sandboxes.testing import (  # noqa: E402
    VENDOR_PLANS,
    make_triggers,
    vendor_sync_dict,
    write_sync,
)
from outflow.warehouse import connect  # noqa: E402

TOKEN_ENV = "OUTFLOW_BENCH_VENDOR_TOKEN"
TOKEN = "bench-token"
DEV_ENV = "OUTFLOW_GOOGLE_DEV_TOKEN"
TWILIO_SID = "AC" + "0" * 32

PLANS: dict[str, dict[str, Any]] = {
    **VENDOR_PLANS,
    # ingest, its request status read twice (PROCESSING, then SUCCESS), the user list's size read back
    "google_data_manager": {"calls": 4, "fields": {"email": "email", "first_name": "first_name"},
                            "options": {"account_id": "1234567890", "user_list_id": "555",
                                        "job_poll_interval_seconds": 0.05}},
    # one request per message: the ceiling is the request rate itself
    "twilio_sms": {"calls": "rows", "mode": "insert", "source": "trg_sms", "primary_key": "trigger_id",
                   "obj": "messages", "fields": {"phone": "to", "first_name": "vars.first_name"},
                   "options": {"from": "+15005550006", "body": "Hi {first_name}"}},
}  # fmt: skip
SECRETS = {"customerio": f"site:{TOKEN}", "twilio_sms": f"{TWILIO_SID}:{TOKEN}"}


def _table(path: Path, rows: int) -> None:
    con = connect(path)
    con.execute(
        f"""CREATE OR REPLACE TABLE main.sync_contacts AS SELECT i AS person_id,
            'user' || i || '@example.com' AS email, 'name' || i AS first_name, (i * 7) % 100 AS score
            FROM range({int(rows)}) r(i)"""
    )
    make_triggers(con, rows=rows)
    con.execute(
        f"""CREATE OR REPLACE TABLE main.trg_sms AS SELECT 'sms-' || i AS trigger_id,
            '+1212' || cast(2000000 + i AS VARCHAR) AS phone, 'name' || i AS first_name FROM range({int(rows)}) r(i)"""
    )
    con.close()


def run(kind: str, rows: int, batch_size: int | None, workdir: Path) -> dict[str, Any]:
    cls = vendor_sandboxes()[kind]
    plan = PLANS[kind]
    req, per = cls.default_rate_limit
    rate = req / per
    size = min(batch_size or DESTINATIONS[kind].max_batch_size, DESTINATIONS[kind].max_batch_size)
    wh = workdir / f"{kind}_{rows}.duckdb"
    _table(wh, rows)
    kwargs = {"google_ads_customer_match": {"developer_token": "bench-dev"},
              "twilio_sms": {"account_sid": TWILIO_SID}}.get(kind, {})  # fmt: skip
    os.environ[TOKEN_ENV] = SECRETS.get(kind, TOKEN)
    with cls(token=TOKEN, real_rate_limit=True, **kwargs) as sb:
        d = vendor_sync_dict(
            kind, sb.url + plan.get("suffix", ""), name=f"bench_{kind}", mode=plan.get("mode", "mirror"),
            primary_key=plan.get("primary_key", "email"), fields=plan.get("fields"), options=plan["options"],
            obj=plan.get("obj", "contacts"), secret_env=TOKEN_ENV, batch_size=size,
            source=plan.get("source", "sync_contacts"), concurrency=plan.get("concurrency", 1),
            destination={"rate_limit": {"requests": req, "per_seconds": per}, "max_retries": 10,
                         "max_backoff_seconds": 5, "timeout_seconds": 30},
        )  # fmt: skip
        cfg = write_sync(workdir / "syncs", d)
        res = run_sync(cfg, warehouse=wh)
        refused = sb.stats.get("rate_limited", 0)
    ceiling = rate if plan["calls"] == "rows" else rate * size / plan["calls"]
    return {
        "kind": kind, "rows": rows, "batch": size, "acked": res.acked, "secs": res.deliver_s,
        "rows_s": res.acked / res.deliver_s if res.deliver_s else 0.0, "ceiling": ceiling,
        "requests": res.requests, "refused": refused, "rate": rate,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="500,2000")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--only", default=None, help="comma-separated destination types")
    a = p.parse_args()
    os.environ[DEV_ENV] = "bench-dev"
    kinds = a.only.split(",") if a.only else list(PLANS)
    print(f"{'destination':27} {'rows':>7} {'batch':>6} {'secs':>7} {'rows/s':>9} {'ceiling rows/s':>15} "
          f"{'% ceil':>7} {'requests':>8} {'429s':>5} {'limit req/s':>11}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="outflow-bench-dest-") as tmp:
        for kind in kinds:
            for n in (int(s) for s in a.sizes.split(",")):
                r = run(kind, n, a.batch_size, Path(tmp))
                pct = 100 * r["rows_s"] / r["ceiling"] if r["ceiling"] else 0
                print(
                    f"{kind:27} {n:>7} {r['batch']:>6} {r['secs']:>7.2f} {r['rows_s']:>9.0f} "
                    f"{r['ceiling']:>15.0f} {pct:>6.0f}% {r['requests']:>8} {r['refused']:>5} "
                    f"{r['rate']:>11.2f}"
                )


if __name__ == "__main__":
    main()
