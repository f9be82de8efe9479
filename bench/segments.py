"""Benchmark: segment refresh and membership-history refresh, full against incremental.

Generates a synthetic profile warehouse in a temporary DuckDB file (dim_profiles, dim_profile_traits,
fct_events with ~3 events per profile, fct_rfm_scores), compiles the shipped segments with the real compiler,
and times:

* segment refresh: every shipped segment rebuilt (``create or replace table seg_* as <compiled SQL>``);
* membership full refresh: the history table rebuilt from current membership (what a --full-refresh does);
* membership incremental refresh: after changing the traits of a share of the profiles, the incremental
  model's logic (anti-joins against the open stays, then delete+insert of only the changed rows).

Usage:  .venv/bin/python bench/segments.py --sizes 1000000 [10000000] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from outflow.segments.codegen import compile_project
from outflow.segments.compiler import render_direct
from outflow.settings import DBT_PROJECT_DIR

NOW = "2026-01-31 00:00:00"


def generate(con: duckdb.DuckDBPyConnection, n: int) -> None:
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
        create or replace table fct_rfm_scores as
        select person_id,
            ntile(5) over (order by days_since_last_order desc, person_id) as r_score,
            ntile(5) over (order by order_count, person_id) as f_score,
            ntile(5) over (order by total_revenue, person_id) as m_score
        from dim_profile_traits where order_count > 0
    """)


def refresh_segments(con: duckdb.DuckDBPyConnection, order: list[str], sql: dict[str, str]) -> None:
    for name in order:
        con.execute(f"create or replace table seg_{name} as {sql[name]}")
    con.execute(
        "create or replace table segment_membership as "
        + " union all ".join(f"select person_id, '{n}' as segment from seg_{n}" for n in order)
    )


def full_history(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        create or replace table segment_membership_history as
        select md5(person_id || '|' || segment || '|' || '{NOW}') as membership_id, person_id, segment,
            timestamp '{NOW}' as entered_at, null::timestamp as exited_at
        from segment_membership
    """)


def incremental_history(con: duckdb.DuckDBPyConnection, now: str) -> int:
    """The incremental model's logic: compute changes, delete+insert them. Returns rows written."""
    con.execute(f"""
        create or replace temp table changes as
        with open_stays as (
            select person_id, segment, entered_at from segment_membership_history where exited_at is null
        ), changed as (
            select
                coalesce(o.person_id, c.person_id) as person_id,
                coalesce(o.segment, c.segment) as segment,
                coalesce(o.entered_at, timestamp '{now}') as entered_at,
                case when c.person_id is null then timestamp '{now}' end as exited_at
            from open_stays o
            full outer join segment_membership c on c.person_id = o.person_id and c.segment = o.segment
            where o.person_id is null or c.person_id is null
        )
        select md5(person_id || '|' || segment || '|' || cast(entered_at as varchar)) as membership_id, *
        from changed
    """)
    con.execute("delete from segment_membership_history where membership_id in (select membership_id from changes)")
    con.execute("insert into segment_membership_history select * from changes")
    return con.execute("select count(*) from changes").fetchone()[0]


def mutate(con: duckdb.DuckDBPyConnection, share: float, seed: int) -> None:
    """Change the engagement traits of a share of the profiles (membership changes follow)."""
    modulo = max(1, round(1 / share))
    con.execute(f"""
        update dim_profile_traits set
            pricing_views_30d = (pricing_views_30d + 3) % 6,
            email_clicks_30d = (email_clicks_30d + 2) % 4,
            last_seen_at = timestamp '{NOW}' - to_days((hash(person_id || '{seed}') % 10)::int)
        where hash(person_id || '{seed}') % {modulo} = 0
    """)


def timed(fn, *args):  # noqa: ANN001, ANN202
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def run(n: int, changed: float, threads: int) -> None:
    compiled = compile_project(DBT_PROJECT_DIR)
    order: list[str] = []

    def visit(s: str) -> None:
        for d in compiled[s].depends_on:
            visit(d)
        if s not in order:
            order.append(s)

    for s in sorted(compiled):
        visit(s)
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        con.execute(f"set threads = {threads}")
        t_gen, _ = timed(generate, con, n)
        sql = {s: render_direct(compiled[s].select, schema="main", now=NOW) for s in order}
        t_seg, _ = timed(refresh_segments, con, order, sql)
        sizes = {s: con.execute(f"select count(*) from seg_{s}").fetchone()[0] for s in order}
        members = con.execute("select count(*) from segment_membership").fetchone()[0]
        t_full, _ = timed(full_history, con)
        # An unchanged rerun, then runs after changing a share of the profiles.
        t_noop, w_noop = timed(incremental_history, con, "2026-01-31 01:00:00")
        mutate(con, changed, 1)
        t_seg2, _ = timed(refresh_segments, con, order, sql)
        t_inc, written = timed(incremental_history, con, "2026-01-31 02:00:00")
        t_full2, _ = timed(full_history, con)
        con.close()
    print(f"\n== {n:,} profiles, {3 * n:,} events (threads={threads}; generation {t_gen:.1f}s)")
    print("segment sizes: " + ", ".join(f"{s}={v:,}" for s, v in sizes.items()))
    print(f"segment refresh, all {len(order)} segments ............ {t_seg:6.2f} s  ({members:,} memberships)")
    print(f"segment refresh after {changed:.0%} of profiles changed . {t_seg2:6.2f} s")
    print(f"membership history, full refresh ............... {t_full:6.2f} s  ({members:,} rows written)")
    print(f"membership history, incremental, no change ..... {t_noop:6.2f} s  ({w_noop:,} rows written)")
    print(f"membership history, incremental, {changed:.0%} changed ..... {t_inc:6.2f} s  ({written:,} rows written)")
    print(f"membership history, full refresh again ......... {t_full2:6.2f} s")


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
