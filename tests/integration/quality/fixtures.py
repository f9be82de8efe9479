"""A small warehouse for the quality tests: every raw table of the contract, the identity map,
profiles, a consent ledger, erasures and two activation models. Clean by default; tests break it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from outflow.warehouse import Warehouse, connect

AS_OF = dt.datetime(2026, 6, 1, 12, 0, 0)
N = 40  # people


def _ts(hours_ago: float) -> dt.datetime:
    return AS_OF - dt.timedelta(hours=hours_ago)


def build(path: Path) -> Path:
    """The fixture warehouse in a new DuckDB file."""
    with connect(path) as con:
        fill(con)
    return path


def fill(con: Warehouse) -> None:
    """Create the fixture tables on any warehouse (portable SQL: DuckDB and PostgreSQL)."""
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists main")
    con.execute(
        "create table raw.crm_contacts (contact_id varchar, email varchar, phone varchar, "
        "first_name varchar, "
        "last_name varchar, company varchar, job_title varchar, industry varchar, employee_count integer, "
        "country varchar, city varchar, state varchar, postal_code varchar, gender varchar, birth_date date, "
        "created_at timestamp, updated_at timestamp)"
    )
    con.executemany(
        "insert into raw.crm_contacts values (?, ?, ?, ?, ?, 'Acme', 'CTO', 'software', 50, 'US', 'Austin', "
        "'TX', '73301', null, null, ?, ?)",
        [
            [
                f"c{i}",
                f" Person{i}@Example.com",
                f"(512) 555-{1000 + i}",
                f"First{i}",
                f"Last{i}",
                _ts(400),
                _ts(5),
            ]
            for i in range(N)
        ],
    )
    con.execute(
        "create table raw.web_events (event_id varchar, cookie_id varchar, user_id varchar, email varchar, "
        "event_type varchar, page_path varchar, occurred_at timestamp, received_at timestamp)"
    )
    con.executemany(
        "insert into raw.web_events values (?, ?, null, null, 'page_view', '/pricing', ?, ?)",
        [[f"w{i}", f"ck{i % N}", _ts(i % 30 + 1), _ts(i % 30)] for i in range(3 * N)],
    )
    con.execute(
        "create table raw.email_events (event_id varchar, email varchar, campaign_id varchar, "
        "event_type varchar, "
        "bounce_type varchar, occurred_at timestamp)"
    )
    con.executemany(
        "insert into raw.email_events values (?, ?, 'cmp1', ?, null, ?)",
        [[f"e{i}", f"person{i % N}@example.com", ["sent", "open", "click"][i % 3], _ts(i + 2)] for i in range(2 * N)],
    )
    con.execute(
        "create table raw.orders (order_id varchar, email varchar, phone varchar, user_id "
        "varchar, amount double precision, "
        "currency varchar, status varchar, ordered_at timestamp)"
    )
    con.executemany(
        "insert into raw.orders values (?, ?, null, null, 99.5, 'USD', 'completed', ?)",
        [[f"o{i}", f"person{i}@example.com", _ts(i * 3 + 1)] for i in range(N // 2)],
    )
    con.execute(
        "create table raw.consent_events (event_id varchar, identifier_type varchar, identifier varchar, "
        "purpose varchar, channel varchar, status varchar, source varchar, occurred_at timestamp)"
    )
    con.executemany(
        "insert into raw.consent_events values (?, 'email', ?, 'marketing', ?, 'granted', 'web_form', ?)",
        [[f"ce{i}-{ch}", f"person{i}@example.com", ch, _ts(100)] for i in range(N) for ch in ("email", "ads")],
    )
    con.execute(
        "create table raw.erasure_requests (request_id varchar, identifier_type varchar, identifier varchar, "
        "requested_at timestamp)"
    )
    con.execute("insert into raw.erasure_requests values ('r1', 'email', 'gone@example.com', ?)", [_ts(50)])

    # dbt-built models (schema main), reduced to the columns the checks read
    con.execute(
        "create table main.int_identity__identifiers as select * from ("
        "select 'email' as identifier_type, 'person' || i || '@example.com' as identifier_value, "
        "'p' || i as person_id, false as is_shared, null::varchar as block_reason from generate_series(0, ?) t(i) "
        "union all select 'crm_id', 'c' || i, 'p' || i, false, null from generate_series(0, ?) t(i) "
        "union all select 'phone', '+1512555' || (1000 + i), 'p' || i, false, null from generate_series(0, ?) t(i)) u",
        [N - 1, N - 1, N - 1],
    )
    con.execute(
        "create table main.stg_crm__contacts as select contact_id, lower(trim(email)) as email, first_name, "
        "last_name, company, country from raw.crm_contacts"
    )
    con.execute(
        "create table main.dim_profiles as select 'p' || i as person_id, 'person' || i || "
        "'@example.com' as email, "
        "'+1512555' || (1000 + i) as phone, 'First' || i as first_name, 'Last' || i as last_name, "
        "'Acme' as company, 'US' as country, 'c' || i as crm_id, 3 as identifier_count, true as is_known "
        "from generate_series(0, ?) t(i)",
        [N - 1],
    )
    con.execute(
        "create table main.dim_consent as select identifier_type, lower(trim(identifier)) as "
        "identifier_value, purpose, channel, status, occurred_at as updated_at from raw.consent_events"
    )
    con.execute(
        "create table main.stg_privacy__erasure_requests as select request_id, identifier_type, "
        "lower(trim(identifier)) as identifier_value, requested_at from raw.erasure_requests"
    )
    con.execute("create table main.sync_email_newsletter as select person_id, email, first_name from main.dim_profiles")
    con.execute(
        "create table main.sync_ads_lookalike as select person_id, email, phone from main.dim_profiles "
        "where person_id < 'p3'"
    )
