"""Incremental daily builds equal a full refresh: a generated dataset arrives over three days, each day is built
incrementally, then the warehouse is rebuilt with `--full-refresh` and every incremental model is compared row for
row with what the incremental days left, on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import astuple
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import polars.selectors as cs
import pytest
from typer.testing import CliRunner

from outflow import normalize
from outflow.build import run_dbt
from outflow.cli import app
from outflow.contract import GATING_TABLES
from outflow.errors import OutflowError
from outflow.load import load_directory
from outflow.pipeline import build, generate_and_load
from outflow.warehouse import connect
from tests.demo_builds import copy_duckdb, postgres_env
from tests.integration.postgres.parity import RUN_STAMPS
from tests.integration.test_identity_graph import ARRIVAL
from tests.warehouse_fixtures import TARGETS, fresh_database

# web events arrive when the collector received them (their load key), late ones days after they occurred
DAY_ARRIVAL = {**ARRIVAL, "web_events": "received_at"}
# the incremental models computed from the raw data (tag `derived`), and the marts built on them
COMPARED = [
    "stg_web__events",
    "stg_email__events",
    "int_identity__signatures",
    "int_identity__signature_occurrences",
    "int_identity__pairs",
    "int_identity__nodes",
    "int_identity__edges",
    "int_identity__identifiers",
    "int_identity__signature_persons",
    "fct_events",
    "int_profiles__attribute_candidates",
    "int_profiles__survivors",
    "dim_profiles",
    "dim_profile_traits",
    "int_lead_scores__fit",
    "int_lead_scores__engagement_points",
    "int_lead_scores__engagement",
    "fct_lead_scores_backtest",
    "int_consent__events",
    "int_consent__email_events",
    "int_consent__ledger",
    "dim_consent",
]


def _rows(wh, model: str) -> pl.DataFrame:
    # doubles to 9 decimals: a sum of doubles (a person's revenue) differs in its last bits with the order its
    # rows are read in, which differs between a table rewritten by delete+insert and one built whole
    # a run's stamp (when it found a signature's person changed) differs from a full refresh's by design
    df = wh.fetch_polars(f"select * from main.{model}").with_columns(cs.float().round(9))
    df = df.drop(RUN_STAMPS.get(model, []))
    return df.sort(df.columns, nulls_last=True)


def _person(wh, record_id: str) -> str | None:
    row = wh.execute(
        "select person_id from main.int_identity__record_persons where record_id = ?", [record_id]
    ).fetchone()
    return row[0] if row else None


def _change_crm(wh, day: int, contacts: list[str], email: str) -> None:
    """The CRM changes in place between days; `email` is contact 1's, and email events carry it. Day 2: contact 0
    takes it (the persons of contacts 0 and 1 merge) and contact 2 a new job title. Day 3: contacts 3-7 take it
    too, so it becomes shared: the link through it stops linking and the persons split again. None of these
    moves updated_at: a CRM need not."""
    update = "update raw.crm_contacts set {} where contact_id = ?"
    for contact in contacts[:1] if day == 2 else contacts[3:8]:
        wh.execute(update.format("email = ?"), [email, contact])
    if day == 2:
        wh.execute(update.format("job_title = 'Chief ' || coalesce(job_title, 'Officer')"), [contacts[2]])


def _move_occurred_at(wh) -> tuple[str, object]:
    """A web event that the next run restages (received within the lookback, 7 days), stored in fct_events, whose
    occurred_at the collector corrects in place (to when it was received): of those, the one that occurred first, so
    that its stored row lies before every restaged event. fct_events finds the stored rows of restaged events by a
    range on occurred_at, which misses this one: it must still replace it, not keep both. Returns its id and its new
    occurred_at."""
    event_id, received_at = wh.execute(
        "select w.event_id, w.received_at from raw.web_events as w "
        "join main.fct_events as f on f.source = 'web' and f.event_id = w.event_id "
        "where w.received_at >= (select max(received_at) from main.stg_web__events) - interval '7 days' "
        "and w.received_at > w.occurred_at order by w.occurred_at, w.event_id limit 1"
    ).fetchone()
    wh.execute("update raw.web_events set occurred_at = received_at where event_id = ?", [event_id])
    return event_id, received_at


def _copy_raw(wh, table: str, where: str, params: list, values: dict[str, str]) -> None:
    """Insert into raw `table` a copy of its first row (by its first column) matching `where`, with the columns in
    `values` set to those SQL expressions."""
    columns = list(wh.columns("raw", table))
    wh.execute(
        f"insert into raw.{table} ({', '.join(columns)}) select {', '.join(values.get(c, c) for c in columns)} "
        f"from raw.{table} where {where} order by {columns[0]} limit 1",
        params,
    )


def _copy_consent_event(wh, event_id: str, new_id: str, status: str = "status") -> None:
    """A copy of a raw consent event a day after the newest, under another id (and with `status`, a SQL value)."""
    later = "(select max(occurred_at) from raw.consent_events) + interval '1 day'"
    _copy_raw(
        wh,
        "consent_events",
        "event_id = ?",
        [event_id],
        {"event_id": f"'{new_id}'", "status": status, "occurred_at": later},
    )


def _change_quietly(wh, contacts: list[str]) -> dict:
    """A fourth day with no new rows but one consent event (and the web event the caller adds), only changes that no
    signature's person shows: a CRM
    city changed in place (updated_at kept), an email known only from a person's web events becoming shared (five
    new CRM contacts take it, so it stops identifying anyone), a phone consent event for a phone that already has
    one, the phone of an order becoming shared (five new CRM contacts take it), and a person whose one record, a CRM
    contact, is deleted."""
    single = (
        "select min(record_key) from main.int_identity__signature_persons where source = 'crm' and person_id in "
        "(select person_id from main.int_identity__signature_persons group by person_id having count(*) = 1) "
        "and record_key not in ({})"
    )
    moved = wh.execute(single.format(", ".join("?" * len(contacts))), contacts).fetchone()[0]
    wh.execute("update raw.crm_contacts set city = 'Quietville' where contact_id = ?", [moved])
    # the golden email of a person whose email candidates are all from web events, none received within the
    # staging lookback (which the daily build reads again) and each with a user id (which keeps the person)
    web_email = wh.execute(
        "select min(p.email) from main.dim_profiles as p join main.int_profiles__attribute_candidates as c "
        "on c.person_id = p.person_id and c.field = 'email' and c.source = 'web' and c.value = p.email "
        "where not exists (select 1 from main.int_profiles__attribute_candidates as o "
        "where o.person_id = p.person_id and o.field = 'email' and o.source <> 'web') "
        "and not exists (select 1 from main.stg_web__events as w where w.email_canonical = p.email_canonical "
        "and (w.user_id is null or w.received_at > (select max(received_at) from main.stg_web__events) "
        "- interval '8 days'))"
    ).fetchone()[0]
    columns = list(wh.columns("raw", "crm_contacts"))
    values = ", ".join(
        "'quiet-' || contact_id" if c == "contact_id" else "?" if c == "email" else "null" if c == "phone" else c
        for c in columns
    )
    wh.execute(
        f"insert into raw.crm_contacts ({', '.join(columns)}) select {values} from raw.crm_contacts "
        "where contact_id in (select contact_id from raw.crm_contacts order by contact_id limit 5)",
        [web_email],
    )
    # the phone of an order, which its person has from orders only, becomes shared: five new CRM contacts take it
    # (in E.164, so read the same in any region), so it stops identifying anyone; the order is unchanged and its
    # person too (an order's email is a stronger identifier than its phone)
    order_phone = wh.execute(
        "select min(c.value) from main.int_profiles__attribute_candidates as c where c.source = 'order' "
        "and c.field = 'phone' and not exists (select 1 from main.int_profiles__attribute_candidates as o "
        "where o.person_id = c.person_id and o.field = 'phone' and o.source <> 'order')"
    ).fetchone()[0]
    phone_values = ", ".join(
        "'quiet-phone-' || contact_id" if c == "contact_id" else "?" if c == "phone" else "null" if c == "email"
        else c
        for c in columns
    )  # fmt: skip
    wh.execute(
        f"insert into raw.crm_contacts ({', '.join(columns)}) select {phone_values} from raw.crm_contacts "
        "where contact_id in (select contact_id from raw.crm_contacts order by contact_id limit 5)",
        [order_phone],
    )
    # a phone consent event arrives for a phone that already has one, a day after the newest: a consent signature
    # that keeps its person and gains a record (no stamp), whose phone candidate is observed later
    consent = wh.execute(
        "select min(c.event_id) from raw.consent_events as c join main.stg_consent__events as s using (event_id) "
        "join main.int_profiles__attribute_candidates as a on a.source = 'consent' and a.value = s.identifier_value "
        "where lower(c.identifier_type) = 'phone'"
    ).fetchone()[0]
    _copy_consent_event(wh, consent, f"quiet-{consent}")
    removed = wh.execute(single.format(", ".join("?" * (len(contacts) + 1))), [*contacts, moved]).fetchone()[0]
    removed_person = _person(wh, f"crm:{removed}")
    wh.execute("delete from raw.crm_contacts where contact_id = ?", [removed])
    assert moved and web_email and removed_person and consent and order_phone
    return {
        "moved": moved,
        "web_email": web_email,
        "removed_person": removed_person,
        "consent": consent,
        "order_phone": order_phone,
    }


def _normalization_lookups(wh) -> list[tuple[list[tuple], int, Callable]]:
    """The rows of each lookup of the normalization step, its key's width, and the pure function that gives them."""

    def email(raw: str) -> tuple:
        return (raw, *astuple(normalize.email(raw)))

    def phone(raw: str, region: str) -> tuple:
        return (raw, region, *astuple(normalize.phone(raw, region)))

    emails = wh.execute(
        "select email_raw, email_address, email_canonical, reject_reason from outflow_identity.emails"
    ).fetchall()
    phones = wh.execute(
        "select phone_raw, region, phone_e164, phone_extension, reject_reason from outflow_identity.phones_e164"
    ).fetchall()
    return [(emails, 1, email), (phones, 2, phone)]


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    """The generated dataset (its files, and loaded in full) and the cut-offs of its first two days."""
    root = tmp_path_factory.mktemp("incremental")
    full = root / "full.duckdb"
    generate_and_load(250, 11, warehouse=full, data_dir=root / "data")
    with connect(full) as wh:
        end = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
    return root / "data", full, [end - timedelta(days=60), end - timedelta(days=20)]


@pytest.fixture(scope="module")
def first_days(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Warehouses built from scratch on a first day, kept per target and cut-off (a DuckDB file, or a PostgreSQL
    database to copy as a template): most tests start from the same first day, built once and copied."""
    return {"folder": tmp_path_factory.mktemp("first_days")}


@pytest.fixture(params=TARGETS)
def warehouse(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_days: dict) -> Iterator[dict]:
    """connect() and build() arguments for an empty warehouse of the target (PostgreSQL: its own database)."""
    if request.param == "duckdb":
        path = tmp_path / "incremental.duckdb"
        monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(path))  # for the CLI
        yield {"connect": {"path": path}, "build": {"warehouse": path}, "first_days": first_days}
        return
    server = request.getfixturevalue("postgres_url")
    url = fresh_database(server)
    postgres_env(monkeypatch, url)
    yield {"connect": {"url": url}, "build": {}, "first_days": first_days, "server": server}


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _build_first_day(warehouse: dict, data: Path, cutoff) -> None:
    """Load the dataset's rows that arrived by `cutoff` into the empty warehouse and build it from scratch; the
    first test of a target and cut-off builds it, the next ones start from a copy of what that build left."""
    kept, key = warehouse["first_days"], ("path" in warehouse["connect"], cutoff)
    if key in kept and "path" in warehouse["connect"]:
        copy_duckdb(kept[key], warehouse["connect"]["path"])
        return
    if key in kept:  # the test's empty database replaced by a copy of the kept one, under the same name
        with connect(url=warehouse["server"]) as admin:
            name = _database(warehouse["connect"]["url"])
            admin.execute(f'drop database "{name}"')
            admin.execute(f'create database "{name}" template "{kept[key]}"')
        return
    with connect(**warehouse["connect"]) as wh:
        load_directory(wh, data, allow_empty=GATING_TABLES)
        for table, column in DAY_ARRIVAL.items():
            wh.execute(f"delete from raw.{table} where {column} > ?", [cutoff])
    build(**warehouse["build"])
    if "path" in warehouse["connect"]:
        kept[key] = kept["folder"] / f"first_day_{len(kept)}.duckdb"
        copy_duckdb(warehouse["connect"]["path"], kept[key])
    else:
        kept[key] = _database(fresh_database(warehouse["server"], template=_database(warehouse["connect"]["url"])))


@pytest.mark.slow  # four builds of a small dataset per target
def test_incremental_days_equal_a_full_refresh(days, warehouse: dict) -> None:
    data, full, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[0])
    with connect(**warehouse["connect"]) as wh:
        first = dict(wh.execute("select event_id, person_id from main.fct_events").fetchall())
        # contact 1: the first whose email a person's email events carry; 0 and 2-7: the first others with an email
        email, contact = wh.execute(
            "select c.email, min(c.contact_id) from raw.crm_contacts as c join raw.email_events as e "
            "on e.email = c.email join main.fct_events as f on f.source = 'email' and f.event_id = e.event_id "
            "group by c.email order by 2 limit 1"
        ).fetchone()
        others = wh.execute(
            "select contact_id from raw.crm_contacts where email is not null and email <> ? order by 1 limit 7",
            [email],
        ).fetchall()
        contacts = [others[0][0], contact] + [r[0] for r in others[1:]]
        persons = [{c: _person(wh, f"crm:{c}") for c in contacts[:2]}]
    # two more days arrive: each appends the rows that arrived in its period (and an order's status changes in
    # place, as a shop's export reports it; CRM contacts change, see _change_crm), and the build runs incrementally
    for day, start, end in zip([2, 3], cutoffs, [*cutoffs[1:], None], strict=True):
        with connect(full) as src, connect(**warehouse["connect"]) as dst:
            _change_crm(dst, day, contacts, email)
            if day == 3:
                corrected = _move_occurred_at(dst)
            for table, column in DAY_ARRIVAL.items():
                where = f"{column} > ?" + (f" and {column} <= ?" if end else "")
                rows = src.fetch_arrow(f"select * from raw.{table} where {where}", [start, end] if end else [start])
                dst.write_arrow(f"raw.{table}", rows, mode="append")
            dst.execute(
                "update raw.orders set status = 'refunded' where order_id = "
                "(select min(order_id) from raw.orders where status = 'completed')"
            )
        build(**warehouse["build"])
        with connect(**warehouse["connect"]) as wh:
            persons.append({c: _person(wh, f"crm:{c}") for c in contacts[:2]})
    # a fourth day: no new rows, only what the golden record's incremental models must find on their own
    with connect(**warehouse["connect"]) as wh:
        quiet = _change_quietly(wh, contacts)
        # the fit rules changed since the fit score last ran (as a seed edit would): it must score every person
        # again, not only the touched ones (the stored scores are spoiled, so that one left alone shows)
        wh.execute("update main.int_lead_scores__fit_rules set points = points + 1")
        wh.execute("update main.int_lead_scores__fit set fit_score = -1")
        # a person the golden record never touches (cookies only, no candidates) seen again: a web event of its
        # cookie arrives after every other, so its identifier's last_seen_at moves and no signature's person does;
        # dim_profiles must read the persons of the identifiers written since its mark, not only the touched ones
        sighted = wh.execute(
            "select min(p.person_id) from main.dim_profiles as p join main.fct_events as f "
            "on f.person_id = p.person_id and f.source = 'web' where not p.is_known"
        ).fetchone()[0]
        newest = "(select max(received_at) from raw.web_events) + interval '1 hour'"
        _copy_raw(
            wh,
            "web_events",
            "event_id = (select min(event_id) from main.fct_events where source = 'web' and person_id = ?)",
            [sighted],
            {"event_id": "'quiet-sighting'", "occurred_at": newest, "received_at": newest},
        )
        # a web event with a blank cookie (staged as none) of a known user: its signature has no cookie, so
        # fct_events' daily run must find its person among the signatures without one, not only by the cookies
        # the day's events carry
        _copy_raw(
            wh,
            "web_events",
            "user_id is not null and event_id in (select event_id from main.fct_events where source = 'web')",
            [],
            {"event_id": "'quiet-no-cookie'", "cookie_id": "''", "occurred_at": newest, "received_at": newest},
        )
    build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        incremental = {model: _rows(wh, model) for model in COMPARED}
        city = wh.execute(
            "select p.city from main.dim_profiles as p join main.int_identity__record_persons as r "
            "on r.person_id = p.person_id where r.record_id = ?",
            [f"crm:{quiet['moved']}"],
        ).fetchone()[0]
        web_email_kept = wh.execute(
            "select count(*) from main.dim_profiles where email = ?", [quiet["web_email"]]
        ).fetchone()[0]
        removed_kept = wh.execute(
            "select count(*) from main.dim_profiles where person_id = ?", [quiet["removed_person"]]
        ).fetchone()[0]
        sighted_row = wh.execute(
            "select p.last_seen_at, f.occurred_at from main.dim_profiles as p join main.fct_events as f "
            "on f.person_id = p.person_id and f.event_id = 'quiet-sighting' where p.person_id = ?",
            [sighted],
        ).fetchone()
        order_phone_kept = wh.execute(
            "select count(*) from main.int_profiles__attribute_candidates where field = 'phone' and value = ?",
            [quiet["order_phone"]],
        ).fetchone()[0]
        consent_seen = wh.execute(
            "select count(*) from main.int_profiles__attribute_candidates as a "
            "join main.stg_consent__events as s on s.identifier_value = a.value "
            "where a.source = 'consent' and s.event_id = ? and a.observed_at = s.occurred_at",
            [f"quiet-{quiet['consent']}"],
        ).fetchone()[0]
        late = wh.execute(
            "select count(*) from main.stg_web__events where received_at - occurred_at > interval '1 day' "
            "and received_at > ?",
            [cutoffs[0]],
        ).fetchone()[0]
        last = dict(wh.execute("select event_id, person_id from main.fct_events").fetchall())
        job_title = wh.execute(
            "select p.job_title from main.dim_profiles as p join main.int_identity__record_persons as r "
            "on r.person_id = p.person_id where r.record_id = ?",
            [f"crm:{contacts[2]}"],
        ).fetchone()[0]
        no_cookie_person = wh.execute(
            "select person_id from main.fct_events where source = 'web' and event_id = 'quiet-no-cookie'"
        ).fetchall()
        corrected_rows = wh.execute(
            "select occurred_at from main.fct_events where source = 'web' and event_id = ?", [corrected[0]]
        ).fetchall()
        refunded = wh.execute(
            "select count(*) from main.fct_events as f join raw.orders as o on o.order_id = f.event_id "
            "where f.source = 'order' and f.event_type <> 'order_' || o.status"
        ).fetchone()[0]
        # the email that joined the two contacts, shared since day 3, identifies nobody (the person map keeps its
        # last row from when it was usable: that person must not come back through it)
        blocked_with_person = wh.execute(
            "select count(*) from main.int_identity__identifiers where block_reason is not null "
            "and person_id is not null"
        ).fetchone()[0]
        shared_since = wh.execute(
            "select count(*) from main.int_identity__identifiers as i join outflow_identity.person_map as m "
            "using (identifier_key) where i.block_reason is not null and m.person_id is not null"
        ).fetchone()[0]
        # a stored row the incremental path cannot see again (outside the lookback): only a full refresh restores it
        wh.execute("delete from main.stg_web__events where event_id = (select min(event_id) from main.stg_web__events)")
        lookups = _normalization_lookups(wh)
        # a lookup row written by other rules (a normalizer since changed): the full refresh normalizes it again
        wh.execute(
            "update outflow_identity.emails set email_canonical = 'stale@example.invalid' where email_raw = "
            "(select min(email_raw) from outflow_identity.emails where email_canonical is not null)"
        )
        # the run's fingerprints were renamed in place of the kept ones: nothing of the run is left beside them
        golden_tables = set(wh.tables("main"))
    refresh = CliRunner().invoke(app, ["build", "--full-refresh"])  # one command
    assert refresh.exit_code == 0, refresh.output
    with connect(**warehouse["connect"]) as wh:
        for model, rows in incremental.items():
            assert rows.height > 0, model
            assert rows.equals(_rows(wh, model)), f"{model}: the incremental build differs from a full refresh"
        refreshed = _normalization_lookups(wh)
        stale = wh.execute(
            "select count(*) from main.stg_emails__normalized where email_canonical = 'stale@example.invalid'"
        ).fetchone()[0]
    # the days exercised what incremental runs must carry over: web events that arrived late, identity merges
    # and splits that move stored events and CRM records to another person, a CRM record changed in place, and
    # changed order statuses
    assert late > 0
    assert any(last.get(k) not in (v, None) for k, v in first.items())
    day1, day2, day3 = persons
    assert day1[contacts[0]] != day1[contacts[1]] and day2[contacts[0]] == day2[contacts[1]]  # merged
    assert day3[contacts[0]] != day3[contacts[1]]  # split again
    assert job_title.startswith("Chief ")
    assert refunded == 0
    # the normalization lookups, appended day by day (each distinct email part and phone number checked once a
    # run), hold what the pure functions give for each raw value, rejection reasons included
    for rows, key, pure in lookups:
        assert len(rows) > 100 and rows == [pure(*row[:key]) for row in rows]
    # the full refresh emptied them and normalized every value again: the stale row is gone everywhere
    for again, key, pure in refreshed:
        assert len(again) > 100 and again == [pure(*row[:key]) for row in again]
    assert stale == 0
    assert corrected_rows == [(corrected[1],)]  # replaced, not kept beside its old version
    assert shared_since > 0 and blocked_with_person == 0
    # day 4: the golden record followed changes that moved no signature to another person
    assert city == "Quietville"
    assert web_email_kept == 0
    assert removed_kept == 0
    assert consent_seen == 1  # the new consent event's time is its phone candidate's
    assert order_phone_kept == 0  # a shared phone is nobody's candidate
    assert sighted_row is not None and sighted_row[0] == sighted_row[1]  # and equals the full refresh's (above)
    assert len(no_cookie_person) == 1 and no_cookie_person[0][0] is not None
    assert "int_profiles__candidates_fingerprints" in golden_tables
    assert "int_profiles__candidates_fingerprints_now" not in golden_tables


def _duplicate_a_written_event(wh) -> str:
    """Load a copy of the newest web event that has a person (so restaged, and written by the next run) under the id
    of a stored email event: the delete+insert on (source, event_id) keeps both. Returns the duplicated id."""
    email_event = wh.execute("select min(event_id) from main.fct_events where source = 'email'").fetchone()[0]
    web_event = wh.execute(
        "select w.event_id from raw.web_events as w join main.fct_events as f "
        "on f.source = 'web' and f.event_id = w.event_id order by w.received_at desc, w.event_id limit 1"
    ).fetchone()[0]
    columns = list(wh.columns("raw", "web_events"))
    values = ", ".join("?" if c == "event_id" else c for c in columns)
    wh.execute(
        f"insert into raw.web_events ({', '.join(columns)}) select {values} from raw.web_events where event_id = ?",
        [email_event, web_event],
    )
    return email_event


def _written(wh, event_id: str) -> int:
    return wh.execute("select count(*) from main.fct_events__written where event_id = ?", [event_id]).fetchone()[0]


UNIQUE_EVENTS = "outflow_unique_written_fct_events_event_id"


@pytest.mark.slow  # four builds of a small dataset per target
def test_a_duplicate_event_fails_every_daily_build_until_removed(days, warehouse: dict) -> None:
    """fct_events' uniqueness test on a daily build checks the events written since the test last passed, against
    every event (macros/outflow_written_keys.sql): an event written with the id of one stored under another source
    must fail the build, and every later build, here one with the next days' data that does not write that event
    again, until the duplicate is gone. A passing build empties the keys."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    with connect(**warehouse["connect"]) as wh:
        # the build from scratch checked every event and passed: no key is left unchecked
        assert wh.execute("select count(*) from main.fct_events__written").fetchone()[0] == 0
        duplicated = _duplicate_a_written_event(wh)
    with pytest.raises(OutflowError, match=UNIQUE_EVENTS):
        build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        assert wh.execute("select count(*) from main.fct_events where event_id = ?", [duplicated]).fetchone()[0] == 2
        written = wh.execute("select count(*) from main.fct_events__written").fetchone()[0]
        assert written < wh.execute("select count(*) from main.fct_events").fetchone()[0] / 2
        assert _written(wh, duplicated) == 1
        load_directory(wh, data, allow_empty=GATING_TABLES)  # the next days (the copy is not in the files)
    with pytest.raises(OutflowError, match=UNIQUE_EVENTS):
        build(**warehouse["build"])  # the run did not write the duplicate again; the failed run's key stays
    with connect(**warehouse["connect"]) as wh:
        assert _written(wh, duplicated) == 1
        wh.execute("delete from main.fct_events where source = 'web' and event_id = ?", [duplicated])
    build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:  # the kept keys checked and passed: emptied
        assert wh.execute("select count(*) from main.fct_events__written").fetchone()[0] == 0


@pytest.mark.slow  # three builds of a small dataset per target
def test_the_keys_of_a_build_without_tests_are_checked_by_the_next(days, warehouse: dict) -> None:
    """A build that writes an event without running fct_events' uniqueness test (left out of the selection; its
    `relationships` test runs and passes, which is not enough) keeps the keys it wrote, so the next build's test
    reads them, though that run does not write the event again."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    with connect(**warehouse["connect"]) as wh:
        duplicated = _duplicate_a_written_event(wh)
    build(**warehouse["build"], exclude="test_name:outflow_unique_written")
    with connect(**warehouse["connect"]) as wh:
        assert _written(wh, duplicated) == 1
    with pytest.raises(OutflowError, match=UNIQUE_EVENTS):
        build(**warehouse["build"])


@pytest.mark.slow  # three builds of a small dataset per target
def test_a_failed_build_from_scratch_leaves_every_row_to_check(days, warehouse: dict) -> None:
    """`outflow build --full-refresh` whose uniqueness test fails leaves fct_events with no written keys, and the
    next daily build, which does not write the duplicate again, still checks every event."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    with connect(**warehouse["connect"]) as wh:
        _duplicate_a_written_event(wh)
    with pytest.raises(OutflowError, match=UNIQUE_EVENTS):
        build(**warehouse["build"], full_refresh=True)
    with connect(**warehouse["connect"]) as wh:
        assert not wh.table_exists("main", "fct_events__written")
    with pytest.raises(OutflowError, match=UNIQUE_EVENTS):
        build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        assert not wh.table_exists("main", "fct_events__written")


@pytest.mark.slow  # four builds of a small dataset per target
def test_a_raw_duplicate_fails_the_build_that_would_stage_it(days, warehouse: dict) -> None:
    """The raw web events' uniqueness test on a daily build reads the ids of the rows their staging restages next
    (received_at within the lookback of the newest staged), against every row (macros/outflow_written_keys.sql): a
    row received today under a stored event's id fails the build. A copy loaded with a received_at older than that
    window is read by neither the staging nor the daily test, and `outflow build --full-refresh` checks every row."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    failed = "source_outflow_unique_since_raw_web_events_event_id"
    with connect(**warehouse["connect"]) as wh:
        oldest, received = wh.execute(
            "select event_id, received_at from raw.web_events order by received_at, event_id limit 1"
        ).fetchone()
        newest = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
        columns = list(wh.columns("raw", "web_events"))
        values = ", ".join("?" if c == "received_at" else c for c in columns)
        copy = (
            f"insert into raw.web_events ({', '.join(columns)}) select {values} from raw.web_events where event_id = ?"
        )
        wh.execute(copy, [newest + timedelta(hours=1), oldest])
    with pytest.raises(OutflowError, match=failed):
        build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        wh.execute("delete from raw.web_events where event_id = ? and received_at > ?", [oldest, received])
        wh.execute(copy, [received, oldest])  # the same copy, received with the original
    build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:  # staged once: the staging read neither copy again
        assert wh.execute("select count(*) from main.stg_web__events where event_id = ?", [oldest]).fetchone()[0] == 1
    with pytest.raises(OutflowError, match=failed):
        build(**warehouse["build"], full_refresh=True)


@pytest.mark.slow  # two builds of a small dataset per target
def test_the_golden_record_reads_removals_fct_events_has_read(days, warehouse: dict) -> None:
    """The candidates find a removed signature in int_identity__signature_persons_removed, which fct_events prunes
    (outflow_prune_removed_signatures): a removal that fct_events read in a run of its own, before the candidates
    ran, must stay logged until they read it, and its person's candidates must then be gone."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    with connect(**warehouse["connect"]) as wh:
        # a CRM contact that is its person's only record
        removed = wh.execute(
            "select min(record_key) from main.int_identity__signature_persons where source = 'crm' and person_id in "
            "(select person_id from main.int_identity__signature_persons group by person_id having count(*) = 1)"
        ).fetchone()[0]
        person = _person(wh, f"crm:{removed}")
        held = wh.execute(
            "select count(*) from main.int_profiles__attribute_candidates where person_id = ?", [person]
        ).fetchone()[0]
        wh.execute("delete from raw.crm_contacts where contact_id = ?", [removed])
    assert held > 0
    # the signature persons log the removal, and fct_events, run alone, reads it and prunes what it has read
    run_dbt(["run", "--select", "+int_identity__signature_persons", "fct_events"], **warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        logged = wh.execute(
            "select count(*) from main.int_identity__signature_persons_removed where source = 'crm' and record_key = ?",
            [removed],
        ).fetchone()[0]
    assert logged == 1  # kept for the candidates, which have not read it
    build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        left = wh.execute(
            "select count(*) from main.int_profiles__attribute_candidates where person_id = ?", [person]
        ).fetchone()[0]
    assert left == 0  # the person's one record is gone, and so are its candidates


def _remove_a_person_leaving_an_event(wh) -> str:
    """Delete the CRM contact that is its person's only record (so the next build removes the person from
    dim_profiles) and store an event of that person that no source holds (so no daily run rewrites or removes it).
    Returns the person."""
    removed = wh.execute(
        "select min(record_key) from main.int_identity__signature_persons where source = 'crm' and person_id in "
        "(select person_id from main.int_identity__signature_persons group by person_id having count(*) = 1)"
    ).fetchone()[0]
    person = _person(wh, f"crm:{removed}")
    wh.execute("delete from raw.crm_contacts where contact_id = ?", [removed])
    wh.execute(
        "insert into main.fct_events (event_id, person_id, source, event_type, occurred_at) "
        "select 'orphan-1', ?, 'web', 'page_view', min(occurred_at) from main.fct_events",
        [person],
    )
    return person


@pytest.mark.slow  # two builds of a small dataset per target
def test_an_event_of_a_removed_person_fails_the_daily_build(days, warehouse: dict) -> None:
    """fct_events' `relationships` test on a daily build reads only the events the run wrote unless dim_profiles
    logged a removed person (dim_profiles__removed; macros/outflow_written_keys.sql): a stored event that no run
    rewrote, whose person dim_profiles removes that day, must fail the build; with the log emptied the daily check
    passes it (so it is the log that catches it), and without the log the whole-table check fails it again."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    with connect(**warehouse["connect"]) as wh:
        # a build from scratch logs "rebuilt whole" (one null row): the test checked every event, then emptied it
        assert wh.execute("select count(*) from main.dim_profiles__removed").fetchone()[0] == 0
        person = _remove_a_person_leaving_an_event(wh)
    with pytest.raises(OutflowError, match="outflow_relationships_written_fct_events_person_id"):
        build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        assert wh.execute("select person_id from main.dim_profiles__removed").fetchall() == [(person,)]
        orphan_written = "select count(*) from main.fct_events__written where event_id = 'orphan-1'"
        assert wh.execute(orphan_written).fetchone()[0] == 0
        assert wh.execute("select count(*) from main.dim_profiles where person_id = ?", [person]).fetchone()[0] == 0
        wh.execute("delete from main.dim_profiles__removed")  # as a day that removed no one: the written events
    run_dbt(["test", "--select", "fct_events,test_name:outflow_relationships_written"], **warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        wh.execute("drop table main.dim_profiles__removed")  # as after a build from scratch: every event checked
    with pytest.raises(OutflowError, match="outflow_relationships_written_fct_events_person_id"):
        run_dbt(["test", "--select", "fct_events,test_name:outflow_relationships_written"], **warehouse["build"])


@pytest.mark.slow  # three builds of a small dataset per target
def test_a_removal_stays_logged_until_the_relationships_test_passes(days, warehouse: dict) -> None:
    """dim_profiles logs the persons it removes (dim_profiles__removed) for fct_events' `relationships` test: a
    build that runs dim_profiles without that test (a partial selection) must leave its removals logged, so the
    next build's test checks every event and finds a stored event of the removed person that no run rewrote."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    with connect(**warehouse["connect"]) as wh:
        person = _remove_a_person_leaving_an_event(wh)
    # a build that leaves out fct_events and its `relationships` test
    build(**warehouse["build"], exclude="fct_events test_name:outflow_relationships_written")
    with connect(**warehouse["connect"]) as wh:
        assert wh.execute("select count(*) from main.dim_profiles where person_id = ?", [person]).fetchone()[0] == 0
        assert wh.execute("select person_id from main.dim_profiles__removed").fetchall() == [(person,)]
    with pytest.raises(OutflowError, match="outflow_relationships_written_fct_events_person_id"):
        build(**warehouse["build"])  # dim_profiles removes no one this time; the earlier removal is still logged
    with connect(**warehouse["connect"]) as wh:
        assert wh.execute("select person_id from main.dim_profiles__removed").fetchall() == [(person,)]
        wh.execute("delete from main.fct_events where event_id = 'orphan-1'")
    run_dbt(["test", "--select", "fct_events,test_name:outflow_relationships_written"], **warehouse["build"])
    with connect(**warehouse["connect"]) as wh:  # checked and passed: the log is emptied
        assert wh.execute("select count(*) from main.dim_profiles__removed").fetchone()[0] == 0


@pytest.mark.slow  # one build of a small dataset per target, two runs of one model
def test_the_identifiers_log_holds_one_row_a_person_left(days, warehouse: dict) -> None:
    """int_identity__identifiers logs the person of every row it rewrites (int_identity__identifiers_removed) until
    dim_profiles reads it: runs that rewrite the same identifiers without dim_profiles (not selected, or skipped after
    a failed test) keep one row per identifier and person, with the newest stamp, not one per run."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    log = "main.int_identity__identifiers_removed"
    with connect(**warehouse["connect"]) as wh:
        assert wh.execute(f"select count(*) from {log}").fetchone()[0] == 0  # dim_profiles read it
        listed = wh.execute(
            "select identifier_type, identifier_value from main.int_identity__identifiers "
            "where person_id is not null order by identifier_key limit 3"
        ).fetchall()
        # the identity step's list, which int_identity__identifiers recomputes (kept: the signature persons, which
        # empty it, do not run)
        wh.executemany("insert into outflow_identity.changed_identifiers values (?, ?)", listed)
    for _ in range(2):
        run_dbt(["run", "--select", "int_identity__identifiers"], **warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        rows = wh.execute(f"select identifier_key, person_id, removed_at from {log}").fetchall()
        newest = wh.execute("select max(written_at) from main.int_identity__identifiers").fetchone()[0]
    assert sorted(key for key, _, _ in rows) == sorted(f"{t}:{v}" for t, v in listed)
    assert {stamp for _, _, stamp in rows} == {newest}


@pytest.mark.slow  # two builds of a small dataset per target
def test_an_identifier_that_moves_updates_both_persons(days, warehouse: dict) -> None:
    """dim_profiles reads the persons of the identifiers written since its mark and those an identifier left
    (int_identity__identifiers_removed): a cookie-only person's cookie seen with another person's user id joins
    that person, and both rows must follow (one person gone, the other with one more identifier), here in a build
    without the golden-record candidates, whose log of touched persons would name them too."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    aggregates = (
        "select person_id, count(*), min(first_seen_at), max(last_seen_at) from main.int_identity__identifiers "
        "where person_id is not null group by person_id"
    )
    profiles = "select person_id, identifier_count, first_seen_at, last_seen_at from main.dim_profiles"
    with connect(**warehouse["connect"]) as wh:
        cookie_person = wh.execute(
            "select min(p.person_id) from main.dim_profiles as p join main.fct_events as f "
            "on f.person_id = p.person_id and f.source = 'web' where not p.is_known and p.identifier_count = 1"
        ).fetchone()[0]
        user_person, user_id = wh.execute(
            "select person_id, identifier_value from main.int_identity__identifiers where identifier_type = 'user_id' "
            "and person_id is not null order by identifier_key limit 1"
        ).fetchone()
        newest = "(select max(received_at) from raw.web_events) + interval '1 hour'"
        _copy_raw(
            wh,
            "web_events",
            "event_id = (select min(event_id) from main.fct_events where source = 'web' and person_id = ?)",
            [cookie_person],
            {"event_id": "'moved-1'", "user_id": f"'{user_id}'", "occurred_at": newest, "received_at": newest},
        )
        assert wh.execute("select count(*) from raw.web_events where event_id = 'moved-1'").fetchone()[0] == 1
    build(**warehouse["build"], exclude="int_profiles__attribute_candidates")
    with connect(**warehouse["connect"]) as wh:
        after = {
            p: wh.execute("select count(*) from main.int_identity__identifiers where person_id = ?", [p]).fetchone()[0]
            for p in (cookie_person, user_person)
        }
        expected = sorted(wh.execute(aggregates).fetchall())
        stored = sorted(wh.execute(profiles).fetchall())
    assert sorted(after.values())[0] == 0  # the two persons are one now
    assert stored == expected


# the consent models, incremental on DuckDB and PostgreSQL (docs/incremental.md, "The consent ledger and
# dim_consent on a daily build")
CONSENT = ["int_consent__ledger", "dim_consent", "int_consent__suppressions", "erased_persons"]


@pytest.mark.slow  # four builds of a small dataset per target
def test_daily_consent_misses_no_opt_out(days, warehouse: dict) -> None:
    """The consent ledger and dim_consent rewrite only what changed on a daily build, and miss no opt-out: a
    revocation that arrives a day later (a consent event, an email unsubscribe, an SMS STOP), a merge that moves a
    revocation onto another person, then a split as the email that merged them becomes shared, and an erasure
    request. Each day's rows are those of a full refresh; a stored row of a person nothing touched is spoiled before
    the days and stays so, so the daily runs were incremental."""
    data, _, cutoffs = days
    _build_first_day(warehouse, data, cutoffs[1])
    with connect(**warehouse["connect"]) as wh:
        # a granted email consent, revoked a day later by a new consent event for the same identifier
        granted, granted_person = wh.execute(
            "select l.fact_id, l.person_id from main.int_consent__ledger as l join main.dim_consent as d "
            "on d.person_id = l.person_id and d.channel = l.channel and d.purpose = l.purpose "
            "and d.identifier_value = l.identifier_value where l.fact_kind = 'consent_event' "
            "and l.status = 'granted' and l.identifier_type = 'email' and d.is_granted order by 1 limit 1"
        ).fetchone()
        # a revoked email (a consent event) and a CRM contact of another person: the contact takes that email
        revoked_email, raw_revoked, revoked_person = wh.execute(
            "select l.identifier_value, min(c.identifier), min(l.person_id) from main.int_consent__ledger as l "
            "join raw.consent_events as c on c.event_id = l.fact_id where l.fact_kind = 'consent_event' "
            "and l.status = 'revoked' and l.identifier_type = 'email' and l.person_id <> ? "
            "group by l.identifier_value order by 1 limit 1",
            [granted_person],
        ).fetchone()
        contact = wh.execute(
            "select min(c.contact_id) from raw.crm_contacts as c join main.int_identity__record_persons as r "
            "on r.record_id = 'crm:' || c.contact_id where c.email is not null and r.person_id not in (?, ?)",
            [granted_person, revoked_person],
        ).fetchone()[0]
        contact_person = _person(wh, f"crm:{contact}")
        # an email with a person and no unsubscribe, spam report or bounce yet: it unsubscribes a day later
        unsubscribed, unsubscribed_person = wh.execute(
            "select e.email, i.person_id from raw.email_events as e join main.stg_email__events as s "
            "using (event_id) join main.int_identity__identifiers as i on i.identifier_type = 'email' "
            "and i.identifier_value = s.email_canonical where i.person_id not in (?, ?, ?) "
            "and s.email_canonical not in (select email_canonical from main.int_consent__email_events "
            "where email_canonical is not null) order by 1 limit 1",
            [granted_person, revoked_person, contact_person],
        ).fetchone()
        # a phone with a person: its SMS STOP comes back from the SMS destination
        stopped, stopped_person = wh.execute(
            "select identifier_value, person_id from main.int_identity__identifiers "
            "where identifier_type = 'phone' and person_id not in (?, ?, ?, ?) and identifier_value like '+%' "
            "and identifier_value not like '%;%' order by 1 limit 1",
            [granted_person, revoked_person, contact_person, unsubscribed_person],
        ).fetchone()
        # a person with an email to erase
        erased, erased_person = wh.execute(
            "select c.email, r.person_id from raw.crm_contacts as c join main.int_identity__record_persons "
            "as r on r.record_id = 'crm:' || c.contact_id where c.email is not null and r.person_id not in "
            "(select person_id from main.erased_persons) and r.person_id not in (?, ?, ?, ?, ?) order by 1 limit 1",
            [granted_person, revoked_person, contact_person, unsubscribed_person, stopped_person],
        ).fetchone()
        touched = [granted_person, revoked_person, contact_person, unsubscribed_person, stopped_person]
        # a stored row of a person none of this touches: a daily run that recomputed everything would restore it
        # (nor day 3's: the first five CRM contacts are copied then)
        spoiled = wh.execute(
            "select min(person_id) from main.dim_consent where person_id not in (?, ?, ?, ?, ?, ?) "
            "and person_id not in (select r.person_id from main.int_identity__record_persons as r "
            "join (select contact_id from raw.crm_contacts order by contact_id limit 5) as c "
            "on r.record_id = 'crm:' || c.contact_id)",
            [*touched, erased_person],
        ).fetchone()[0]
        for model in ("int_consent__ledger", "dim_consent"):
            wh.execute(f"update main.{model} set source = 'spoiled' where person_id = ?", [spoiled])
        # day 2
        _copy_consent_event(wh, granted, "later-revocation", "'revoked'")
        wh.execute("update raw.crm_contacts set email = ? where contact_id = ?", [raw_revoked, contact])
        _copy_raw(
            wh,
            "email_events",
            "email = ?",
            [unsubscribed],
            {
                "event_id": "'later-unsubscribe'",
                "event_type": "'unsubscribe'",
                "bounce_type": "null",
                "occurred_at": "(select max(occurred_at) from raw.consent_events) + interval '3 days'",
            },
        )
        wh.execute("create schema if not exists outflow_sync")
        wh.execute(
            "create table outflow_sync.sync_rejected_rows "
            "(sync_name varchar, key varchar, last_error varchar, last_failed_at timestamp)"
        )
        wh.execute(
            "insert into outflow_sync.sync_rejected_rows values "
            "('sms_test', 'k1', ?, (select max(occurred_at) from raw.consent_events) + interval '2 days')",
            [f"21610 {stopped}: Attempt to send to unsubscribed recipient"],
        )
        wh.execute(
            "insert into raw.erasure_requests (request_id, identifier_type, identifier, requested_at) "
            "values ('later-erasure', 'email', ?, (select max(occurred_at) from raw.consent_events))",
            [erased],
        )
    day2 = _consent_day(warehouse, spoiled)
    with connect(**warehouse["connect"]) as wh:
        revoked = wh.execute(
            "select d.status, d.decided_by from main.dim_consent as d join main.int_consent__ledger as l "
            "on l.person_id = d.person_id and l.channel = d.channel and l.purpose = d.purpose "
            "where l.fact_id = 'later-revocation'"
        ).fetchall()
        merged = _person(wh, f"crm:{contact}")
        moved = wh.execute(
            "select count(*) from main.int_consent__ledger where identifier_value = ? and status = 'revoked' "
            "and person_id = ?",
            [revoked_email, merged],
        ).fetchone()[0]
        unsubscribed_now = wh.execute(
            "select status, decided_by from main.dim_consent where person_id = ? and channel = 'email' "
            "and purpose = 'marketing'",
            [unsubscribed_person],
        ).fetchall()
        sms = wh.execute(
            "select purpose from main.dim_consent where person_id = ? and channel = 'sms' and status = 'revoked' "
            "and decided_by = 'sms_stop' order by 1",
            [stopped_person],
        ).fetchall()
        erased_now = wh.execute(
            "select count(*) from main.erased_persons where person_id = ?", [erased_person]
        ).fetchone()[0]
    _assert_full_refresh_equal(warehouse, day2, spoiled)
    with connect(**warehouse["connect"]) as wh:
        for model in ("int_consent__ledger", "dim_consent"):
            wh.execute(f"update main.{model} set source = 'spoiled' where person_id = ?", [spoiled])
        # day 3: the revoked email that merged the two persons becomes shared (five new CRM contacts take it), so
        # the link through it stops linking and the persons split again; the revocation reaches nobody
        columns = list(wh.columns("raw", "crm_contacts"))
        values = ", ".join(
            "'shared-' || contact_id" if c == "contact_id" else "?" if c == "email" else c for c in columns
        )
        wh.execute(
            f"insert into raw.crm_contacts ({', '.join(columns)}) select {values} from raw.crm_contacts "
            "where contact_id in (select contact_id from raw.crm_contacts order by contact_id limit 5)",
            [raw_revoked],
        )
    day3 = _consent_day(warehouse, spoiled)
    with connect(**warehouse["connect"]) as wh:
        shared_rows = wh.execute(
            "select count(*) from main.int_consent__ledger where identifier_value = ?", [revoked_email]
        ).fetchone()[0]
    _assert_full_refresh_equal(warehouse, day3, spoiled)
    # day 2: each opt-out reached its person on the next build
    assert revoked and all(r == ("revoked", "consent_event") for r in revoked)
    assert moved > 0  # the merge took the revoked email, and its revocation, onto the contact's person
    assert unsubscribed_now == [("revoked", "unsubscribe")]
    assert sms == [("marketing",), ("transactional",)]
    assert erased_now == 1
    # the days were incremental: a row of a person nothing touched stayed spoiled in both models
    assert min(day2["spoiled"] + day3["spoiled"]) > 0
    # day 3: the shared email identifies nobody, so its revocation is in no person's rows
    assert shared_rows == 0


def _consent_day(warehouse: dict, spoiled: str) -> dict:
    """Build a day incrementally: the consent models' rows but the spoiled person's, and how many of that person's
    rows are still spoiled in the ledger and in dim_consent."""
    build(**warehouse["build"])
    with connect(**warehouse["connect"]) as wh:
        rows = {model: _rows(wh, model).filter(pl.col("person_id") != spoiled) for model in CONSENT}
        rows["spoiled"] = [
            wh.execute(f"select count(*) from main.{m} where source = 'spoiled'").fetchone()[0]
            for m in ("int_consent__ledger", "dim_consent")
        ]
    return rows


def _assert_full_refresh_equal(warehouse: dict, rows: dict, spoiled: str) -> None:
    """Rebuild with --full-refresh and compare the consent models with the day's rows (the spoiled person's left
    out)."""
    refresh = CliRunner().invoke(app, ["build", "--full-refresh"])
    assert refresh.exit_code == 0, refresh.output
    with connect(**warehouse["connect"]) as wh:
        for model in CONSENT:
            assert rows[model].height > 0, model
            refreshed = _rows(wh, model).filter(pl.col("person_id") != spoiled)
            assert rows[model].equals(refreshed), f"{model}: the daily build differs from a full refresh"
