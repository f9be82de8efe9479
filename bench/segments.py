"""Benchmark: segment refresh and membership-history refresh, full against incremental, with the real dbt models.

Generates a synthetic profile warehouse in a temporary DuckDB file (dim_profiles, dim_profile_traits,
fct_events with 3 events per profile, fct_lead_scores, an empty ml_lead_scores), then runs the project's own dbt
models on it with `dbt run` and times each model as dbt reports it (plus dbt's wall time, parse included):

* segment refresh: `path:models/segments` minus the history (fct_rfm_scores, every generated seg_* model,
  segment_membership);
* membership history, full refresh: `segment_membership_history --full-refresh` (rebuilds the table);
* membership history, incremental: the same model without --full-refresh, with no change, then after
  changing the traits of a share of the profiles and refreshing the segments.

Usage:  .venv/bin/python bench/segments.py --sizes 1000000 [10000000] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from outflow.build import run_dbt
from outflow.warehouse import Warehouse, connect

NOW = "2026-01-31 00:00:00"


def generate(con: Warehouse, n: int) -> None:
    con.execute(f"""
        create or replace table dim_profiles as
        select
            'p' || lpad(cast(i as varchar), 9, '0') as person_id,
            case when i % 10 = 0 then null else 'user' || i || '@example.com' end as email,
            null::varchar as email_canonical,
            case when i % 3 = 0 then '+3361' || lpad(cast(i % 10000000 as varchar), 8, '0') end as phone,
            'First' || (i % 1000) as first_name, 'Last' || (i % 5000) as last_name,
            'Company ' || (i % 20000) as company, 'Title' as job_title,
            ['software', 'retail', 'finance', 'health'][1 + i % 4] as industry,
            (i * 37) % 5000 as employee_count,
            ['US', 'FR', 'DE', 'GB', 'JP'][1 + i % 5] as country,
            'City' as city, null::varchar as state, null::varchar as postal_code, null::varchar as gender,
            null::date as birth_date, null::varchar as crm_id, null::varchar as user_id,
            1 + i % 4 as identifier_count, i % 10 <> 0 as is_known,
            timestamp '{NOW}' - to_days(400 + i % 300) as first_seen_at,
            timestamp '{NOW}' - to_days(i % 120) as last_seen_at
        from range({n}) t(i)
    """)
    con.execute(f"""
        create or replace table dim_profile_traits as
        select
            person_id, first_seen_at, last_seen_at,
            date_diff('day', last_seen_at, timestamp '{NOW}') as days_since_last_seen,
            (hash(person_id) % 40)::int as web_events_30d,
            (hash(person_id || 'p') % 6)::int as pricing_views_30d,
            case when hash(person_id || 'o') % 4 = 0 then (hash(person_id || 'c') % 8)::int else 0 end
                as order_count,
            0.0::double as total_revenue, null::timestamp as first_order_at, null::timestamp as last_order_at,
            null::int as days_since_last_order,
            (hash(person_id || 'e') % 10)::int as email_opens_30d,
            (hash(person_id || 'k') % 4)::int as email_clicks_30d,
            'lead' as lifecycle_stage
        from dim_profiles
    """)
    con.execute(f"""
        update dim_profile_traits set
            total_revenue = (order_count * 80 + hash(person_id) % 500)::double,
            last_order_at = case when order_count > 0
                then timestamp '{NOW}' - to_days((hash(person_id || 'l') % 200)::int) end,
            lifecycle_stage = case when order_count > 0 then 'customer' else 'lead' end
    """)
    con.execute(f"""
        update dim_profile_traits
        set days_since_last_order = date_diff('day', last_order_at, timestamp '{NOW}')
        where last_order_at is not null
    """)
    con.execute(f"""
        create or replace table fct_events as
        select
            'e' || p.person_id || '_' || k as event_id, p.person_id,
            case when k = 2 and t.order_count > 0 then 'order' else 'web' end as source,
            case when k = 2 and t.order_count > 0 then 'order_completed'
                 when (hash(p.person_id) + k) % 7 = 0 then 'add_to_cart' else 'page_view' end as event_type,
            timestamp '{NOW}' - to_hours(
                (hash(p.person_id || k) % (case when hash(p.person_id) % 20 = 0 then 300 else 2400 end))::int
            ) as occurred_at,
            case when hash(p.person_id) % 20 = 0 or (hash(p.person_id) + k) % 3 = 0 then '/pricing'
                 else '/blog' end as page_path,
            null::varchar as campaign_id, null::double as amount
        from dim_profiles p join dim_profile_traits t using (person_id), range(3) r(k)
    """)
    con.execute("""
        create or replace table fct_lead_scores as
        select person_id, fit_score, engagement_score, round((fit_score + engagement_score) / 2, 1) as lead_score
        from (
            select person_id, (hash(person_id || 'f') % 101)::double as fit_score,
                round(power(hash(person_id || 'g') % 101, 2) / 100.0, 1) as engagement_score
            from dim_profiles
        )
    """)
    con.execute("""
        create or replace table ml_lead_scores (person_id varchar not null, score double, decile integer,
            reason_codes varchar, model_version varchar, scored_at timestamp)
    """)


SEGMENTS = ["--select", "path:models/segments", "--exclude", "segment_membership_history"]
HISTORY = ["--select", "segment_membership_history"]


def dbt_run(warehouse: Path, selection: list[str], as_of: str, full_refresh: bool = False) -> tuple[float, float]:
    """Run the selected models; return (sum of the models' own times as dbt reports them, dbt wall time)."""
    t0 = time.perf_counter()
    run = run_dbt(["run", *selection, *(["--full-refresh"] if full_refresh else [])], warehouse=warehouse, as_of=as_of)
    wall = time.perf_counter() - t0
    return sum(r["seconds"] or 0 for r in run.results), wall


def rows_stamped(con: Warehouse, ts: str) -> int:
    """History rows the run at `ts` wrote: stays opened or closed at that time."""
    return con.execute(
        "select count(*) from main.segment_membership_history where entered_at = ?::timestamp "
        "or exited_at = ?::timestamp",
        [ts, ts],
    ).fetchone()[0]


def mutate(con: Warehouse, share: float, seed: int) -> None:
    """Change the engagement of a share of the profiles (lead score and traits; membership changes follow)."""
    modulo = max(1, round(1 / share))
    picked = f"hash(person_id || '{seed}') % {modulo} = 0"
    con.execute(f"""
        update fct_lead_scores set
            engagement_score = (engagement_score + 50) % 101,
            lead_score = round((fit_score + (engagement_score + 50) % 101) / 2, 1)
        where {picked}
    """)
    con.execute(f"""
        update dim_profile_traits set
            pricing_views_30d = (pricing_views_30d + 3) % 6,
            last_seen_at = timestamp '{NOW}' - to_days((hash(person_id || '{seed}') % 10)::int)
        where {picked}
    """)


def run(n: int, changed: float, threads: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wh = Path(tmp) / "bench.duckdb"
        con = connect(wh)
        con.execute(f"set threads = {threads}")
        t0 = time.perf_counter()
        generate(con, n)
        t_gen = time.perf_counter() - t0
        con.close()
        seg = dbt_run(wh, SEGMENTS, NOW)
        con = connect(wh)
        sizes = con.execute("select segment, count(*) from main.segment_membership group by 1 order by 1").fetchall()
        members = sum(v for _, v in sizes)
        con.close()
        full = dbt_run(wh, HISTORY, NOW, full_refresh=True)
        t1, t2 = "2026-01-31 01:00:00", "2026-01-31 02:00:00"
        noop = dbt_run(wh, HISTORY, t1)
        con = connect(wh)
        w_noop = rows_stamped(con, t1)
        mutate(con, changed, 1)
        con.close()
        seg2 = dbt_run(wh, SEGMENTS, NOW)
        inc = dbt_run(wh, HISTORY, t2)
        con = connect(wh)
        written = rows_stamped(con, t2)
        con.close()
        full2 = dbt_run(wh, HISTORY, t2, full_refresh=True)
    print(
        f"\n== {n:,} profiles, {3 * n:,} events (dbt threads=2, DuckDB threads for generation={threads}; "
        f"generation {t_gen:.1f}s)"
    )
    print("segment sizes: " + ", ".join(f"{s}={v:,}" for s, v in sizes))
    print("                                                   models   dbt wall (parse included)")
    print(
        f"segment refresh, {len(sizes)} segments + RFM + membership .. {seg[0]:6.2f} s  {seg[1]:6.2f} s  "
        f"({members:,} memberships)"
    )
    print(f"segment refresh after {changed:.0%} of profiles changed ..... {seg2[0]:6.2f} s  {seg2[1]:6.2f} s")
    print(
        f"membership history, full refresh .............. {full[0]:6.2f} s  {full[1]:6.2f} s  "
        f"({members:,} rows written)"
    )
    print(
        f"membership history, incremental, no change .... {noop[0]:6.2f} s  {noop[1]:6.2f} s  ({w_noop:,} rows written)"
    )
    print(
        f"membership history, incremental, {changed:.0%} changed .... {inc[0]:6.2f} s  {inc[1]:6.2f} s  "
        f"({written:,} rows written)"
    )
    print(f"membership history, full refresh again ........ {full2[0]:6.2f} s  {full2[1]:6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--changed", type=float, default=0.01, help="share of profiles changed between runs")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    for n in args.sizes:
        run(n, args.changed, args.threads)


if __name__ == "__main__":
    main()
