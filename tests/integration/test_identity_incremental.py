"""The identity models that cost what changed: incremental signatures keyed by load time (a late record with a
smaller id renames its signature, a record changed in place leaves its old signature), and nodes whose junk
patterns run only on identifiers not seen before, unless the patterns changed. Through real dbt runs on a copy of
the demo warehouse."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from outflow import pipeline
from outflow.build import run_dbt
from outflow.warehouse import connect
from tests.demo_builds import run_dbt_on
from tests.warehouse_fixtures import Location


@pytest.fixture
def warehouse(built_warehouse: Path, tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    shutil.copy(built_warehouse, path)
    return path


def _rebuild(warehouse: Path) -> None:
    """Restage the web events and rebuild the identity models up to the nodes, incrementally where they are."""
    run_dbt(["run", "--select", "stg_web__events int_identity__signatures int_identity__signature_occurrences "
             "int_identity__pairs int_identity__nodes"], warehouse=warehouse)  # fmt: skip


def _rows(path: Path, model: str) -> set[tuple]:
    """A model's rows without the stamp of the run that wrote them (written_at)."""
    with connect(path) as wh:
        wh.execute("checkpoint")  # the file holds every change, so a copy of it does
        columns = [c for c in wh.columns("main", model) if c != "written_at"]
        return set(wh.execute(f"select {', '.join(columns)} from main.{model}").fetchall())


def _signatures(path: Path) -> set[tuple]:
    return _rows(path, "int_identity__signatures")


GRAPH = [
    "int_identity__signatures",
    "int_identity__signature_occurrences",
    "int_identity__pairs",
    "int_identity__nodes",
]


def test_incremental_signatures_equal_a_full_rebuild(warehouse: Path, tmp_path: Path) -> None:
    with connect(warehouse) as wh:
        newest = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
        # a recent record whose cookie is corrected in place: it leaves its old signature for a new one
        moved = wh.execute(
            "select event_id from raw.web_events where cookie_id is not null order by received_at desc limit 1"
        ).fetchone()[0]
        wh.execute("update raw.web_events set cookie_id = 'ck-corrected' where event_id = ?", [moved])
        # a record arriving late, with a smaller id than every record of its signature: the signature's id changes
        cookie, user, email, first = wh.execute(
            "select cookie_id, user_id, email_canonical, signature_id from main.int_identity__signatures "
            "where source = 'web' and records > 1 and email_canonical is null order by signature_id limit 1"
        ).fetchone()
        wh.execute(
            "insert into raw.web_events select 'A-late', ?, ?, null, 'page_view', '/', ? - interval 40 day, ?",
            [cookie, user, newest, newest],
        )
    # the occurrences follow the web changes while the pairs wait: the next pairs run takes two runs' changes
    run_dbt(["run", "--select", "stg_web__events int_identity__signatures int_identity__signature_occurrences"],
            warehouse=warehouse)  # fmt: skip
    with connect(warehouse) as wh:
        # CRM contacts change in place: one takes another email (its signature keeps its id, its identifiers and
        # pairs change), one loses its phone, one is deleted (its signature, identifiers and pairs go)
        # another contact's email: the normalization lookup knows it (dbt alone normalizes no new value)
        (changed, _), (dropped_phone, _), (deleted, _), (source_contact, other_email) = wh.execute(
            "select contact_id, email from raw.crm_contacts where email is not null and phone is not null "
            "order by contact_id limit 4"
        ).fetchall()
        wh.execute("update raw.crm_contacts set email = ? where contact_id = ?", [other_email, changed])
        other = wh.execute(
            "select email_canonical from main.stg_crm__contacts where contact_id = ?", [source_contact]
        ).fetchone()[0]
        wh.execute("update raw.crm_contacts set phone = null where contact_id = ?", [dropped_phone])
        wh.execute("delete from raw.crm_contacts where contact_id = ?", [deleted])
    _rebuild(warehouse)
    incremental = _signatures(warehouse)
    ids = {row[1] for row in incremental}
    assert "web:A-late" in ids and first not in ids and f"crm:{deleted}" not in ids
    assert {(row[1], row[9]) for row in incremental if row[3] == "ck-corrected"} == {(f"web:{moved}", 1)}
    assert min(row[9] for row in incremental) > 0  # no record counted twice, no signature left without records
    graph = {model: _rows(warehouse, model) for model in GRAPH[1:]}
    occurrences = {(row[1], row[2], row[3]) for row in graph["int_identity__signature_occurrences"]}
    assert ("crm:" + changed, "email", other) in occurrences
    assert not any(row[0] in (first, f"crm:{deleted}") for row in occurrences)
    assert not any(row[0] == f"crm:{dropped_phone}" and row[1] == "phone" for row in occurrences)

    full = tmp_path / "full.duckdb"
    shutil.copy(warehouse, full)
    run_dbt(["run", "--select", " ".join(GRAPH), "--full-refresh"], warehouse=full)
    assert incremental == _signatures(full)
    for model, rows in graph.items():
        assert rows == _rows(full, model), f"{model}: the incremental build differs from a full rebuild"


def test_occurrences_follow_signatures_rebuilt_whole(warehouse: Path) -> None:
    """Signatures rebuilt alone (every one stamped anew) log no removal: the occurrences drop what they hold of a
    signature gone since rather than keep it."""
    expected = _rows(warehouse, "int_identity__signature_occurrences")
    with connect(warehouse) as wh:
        wh.execute(
            "insert into main.int_identity__signature_occurrences (source, signature_id, identifier_type, "
            "identifier_value, records, signature_identifiers, written_at) "
            "values ('crm', 'crm:gone', 'crm_id', 'gone', 1, 1, timestamp '2000-01-01')"
        )
    run_dbt(["run", "--select", "int_identity__signatures", "--full-refresh"], warehouse=warehouse)
    run_dbt(["run", "--select", "int_identity__signature_occurrences"], warehouse=warehouse)
    assert _rows(warehouse, "int_identity__signature_occurrences") == expected


def test_a_new_junk_value_is_blocked_and_a_pattern_change_checks_every_identifier(warehouse: Path) -> None:
    with connect(warehouse) as wh:
        newest = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
        seen = wh.execute("select count(*) from main.int_identity__nodes where identifier_value = '0000000'")
        assert seen.fetchone()[0] == 0
        wh.execute(
            "insert into raw.web_events values ('W-junk', '0000000', null, null, 'page_view', '/', ?, ?)",
            [newest, newest],
        )
        usable = wh.execute(
            "select identifier_value from main.int_identity__nodes where identifier_type = 'email' "
            "and block_reason is null order by 1"
        ).fetchall()
    email = next(v for (v,) in usable if re.fullmatch(r"[a-z0-9.]+@[a-z0-9.]+", v))
    _rebuild(warehouse)

    def reason(value: str) -> str | None:
        with connect(warehouse) as wh:
            return wh.execute(
                "select block_reason from main.int_identity__nodes where identifier_value = ?", [value]
            ).fetchone()[0]

    assert reason("0000000") == "junk value"  # a new identifier is checked
    assert reason(email) is None
    # an identifier the last build found usable is checked again when the patterns change
    local = email.split("@")[0]
    run_dbt(["run", "--select", "int_identity__nodes", "--vars", json.dumps({"role_account_pattern": f"({local})"})],
            warehouse=warehouse)  # fmt: skip
    assert reason(email) == "role account"
    run_dbt(["run", "--select", "int_identity__nodes"], warehouse=warehouse)
    assert reason(email) is None


def test_tables_from_before_they_were_incremental_are_rebuilt_whole(warehouse: Path) -> None:
    expected = {model: _rows(warehouse, model) for model in GRAPH[:2]}
    with connect(warehouse) as wh:  # the tables as a build before incremental signatures and occurrences left them
        for model in GRAPH[:2]:
            old = [c for c in wh.columns("main", model) if c not in ("loaded_at", "written_at") and "settled" not in c]
            wh.execute(f"create or replace table main.{model} as select {', '.join(old)} from main.{model}")
    _rebuild(warehouse)  # dropped by the on-run-start hook, then built whole: no failure on the missing columns
    assert {model: _rows(warehouse, model) for model in GRAPH[:2]} == expected


def _signature_persons(path: Path) -> set[tuple]:
    """int_identity__signature_persons without its run stamps (a full refresh stamps every row anew)."""
    with connect(path) as wh:
        wh.execute("checkpoint")
        columns = [c for c in wh.columns("main", "int_identity__signature_persons") if c != "person_changed_at"]
        return set(wh.execute(f"select {', '.join(columns)} from main.int_identity__signature_persons").fetchall())


@pytest.mark.slow  # three partial builds and a full refresh of the demo warehouse
def test_signature_persons_rank_again_what_the_identity_step_lists(warehouse: Path, tmp_path: Path) -> None:
    """A daily run of int_identity__signature_persons ranks again only the signatures that changed, those holding an
    identifier the identity step listed, and the CRM and order ones. Two changes no stored column shows: an email
    that leaves the graph (shared) and comes back with its old person (its map row unchanged: only the list of
    identifiers outside the graph tells), and an order whose phone, its only identifier, changes in place."""
    select = "+int_identity__signature_persons"
    with connect(warehouse) as wh:
        assert wh.execute("select count(*) from outflow_identity.changed_identifiers").fetchone()[0] == 0
        email, person = wh.execute(
            "select i.identifier_value, i.person_id from main.int_identity__identifiers as i "
            "join main.int_identity__signature_persons as p on p.source = 'email' "
            "and p.email_canonical = i.identifier_value where i.identifier_type = 'email' and i.person_id is not null "
            "order by 1 limit 1"
        ).fetchone()
        # an order with a phone that identifies a person, and another whose phone identifies someone else; neither
        # has a country (their phones are read in the same region)
        orders = wh.execute(
            "select o.order_id, r.phone, p.person_id from main.stg_shop__orders as o "
            "join raw.orders as r using (order_id) "
            "join main.int_identity__identifiers as p on p.identifier_type = 'phone' "
            "and p.identifier_value = o.phone_e164 and p.person_id is not null "
            "where o.order_id not in (select order_id from main.stg_shop__order_countries) order by 1"
        ).fetchall()
        (order, _, _), (_, phone, phone_person) = orders[0], next(o for o in orders if o[2] != orders[0][2])
        wh.execute("update raw.orders set email = null, user_id = null where order_id = ?", [order])
        columns = list(wh.columns("raw", "crm_contacts"))
        values = ", ".join(
            "'shared-' || contact_id" if c == "contact_id" else "?" if c == "email" else "null" if c == "phone" else c
            for c in columns
        )
        wh.execute(  # five contacts take the email: it is shared, so blocked
            f"insert into raw.crm_contacts ({', '.join(columns)}) select {values} from raw.crm_contacts "
            "where contact_id in (select contact_id from raw.crm_contacts order by contact_id limit 5)",
            [email],
        )
    pipeline.build(warehouse=warehouse, select=select)

    def persons_of(sql: str, params: list) -> list:
        with connect(warehouse) as wh:
            return [r[0] for r in wh.execute(sql, params).fetchall()]

    persons = "select person_id from main.int_identity__signature_persons where "
    by_email = persons + "source = 'email' and email_canonical = ?"
    assert persons_of(by_email, [email]) == []  # the email identifies nobody now
    with connect(warehouse) as wh:
        wh.execute("update raw.orders set phone = ? where order_id = ?", [phone, order])
        wh.execute("delete from raw.crm_contacts where contact_id like 'shared-%'")
    pipeline.build(warehouse=warehouse, select=select)
    assert persons_of(by_email, [email]) == [person]  # back in the graph, with its old person
    by_order = persons + "source = 'order' and record_key = ?"
    assert persons_of(by_order, [order]) == [phone_person]
    incremental = _signature_persons(warehouse)  # (checkpointed: the copy holds every change)
    with connect(warehouse) as wh:
        assert wh.execute("select count(*) from outflow_identity.changed_identifiers").fetchone()[0] == 0

    full = tmp_path / "full.duckdb"
    shutil.copy(warehouse, full)
    run_dbt(["run", "--select", "int_identity__signature_persons", "--full-refresh"], warehouse=full)
    assert incremental == _signature_persons(full)


@pytest.mark.slow  # a partial build, a signatures rebuild and a full refresh of the demo warehouse
def test_signature_persons_follow_the_signatures_written_and_removed(warehouse: Path, tmp_path: Path) -> None:
    """A daily run of int_identity__signature_persons reads the signatures written since its mark and those logged as
    removed, not every stored row: a renamed web signature and a deleted CRM contact leave it, the new name comes in,
    and the stored row of a signature nobody rewrote is not read (a tampered record count stays). Signatures rebuilt
    whole (no removal logged) make it compare every stored row again."""
    persons = "main.int_identity__signature_persons"
    with connect(warehouse) as wh:
        newest = wh.execute("select max(received_at) from raw.web_events").fetchone()[0]
        cookie, user, renamed = wh.execute(
            f"select cookie_id, user_id, signature_id from {persons} "
            "where source = 'web' and email_canonical is null and cookie_id is not null order by signature_id limit 1"
        ).fetchone()
        wh.execute(  # a late event with a smaller id than every event of the signature: it is renamed
            "insert into raw.web_events select 'A-late', ?, ?, null, 'page_view', '/', ? - interval 40 day, ?",
            [cookie, user, newest, newest],
        )
        deleted = wh.execute(f"select record_key from {persons} where source = 'crm' order by 1 limit 1").fetchone()[0]
        wh.execute("delete from raw.crm_contacts where contact_id = ?", [deleted])
        untouched, count = wh.execute(  # of another person: the identity step lists none of its identifiers
            f"select signature_id, records from {persons} where source = 'email' and person_id not in "
            f"(select person_id from {persons} where signature_id in (?, ?)) order by 1 limit 1",
            [renamed, f"crm:{deleted}"],
        ).fetchone()
        wh.execute(f"update {persons} set records = -1 where signature_id = ?", [untouched])
    pipeline.build(warehouse=warehouse, select="+int_identity__signature_persons")

    def records(signature_id: str) -> list:
        with connect(warehouse) as wh:
            return [r[0] for r in wh.execute(f"select records from {persons} where signature_id = ?",
                                             [signature_id]).fetchall()]  # fmt: skip

    assert records(renamed) == [] and records(f"crm:{deleted}") == [] and len(records("web:A-late")) == 1
    assert records(untouched) == [-1]  # not written since the mark, so not read
    with connect(warehouse) as wh:
        assert wh.execute("select count(*) from main.int_identity__signatures__removed_for_persons").fetchone()[0] == 0
        wh.execute(f"update {persons} set records = ? where signature_id = ?", [count, untouched])
    incremental = _signature_persons(warehouse)  # (checkpointed: the copy holds every change)
    full = tmp_path / "full.duckdb"
    shutil.copy(warehouse, full)
    run_dbt(["run", "--select", "int_identity__signature_persons", "--full-refresh"], warehouse=full)
    assert incremental == _signature_persons(full)

    # the signatures rebuilt whole log no removal (and the occurrences follow them whole): a stored row of a
    # signature gone since is found all the same
    with connect(warehouse) as wh:
        wh.execute(f"update {persons} set signature_id = 'crm:gone' where signature_id = ?", [untouched])
    run_dbt(["run", "--select", "int_identity__signatures", "--full-refresh"], warehouse=warehouse)
    run_dbt(["run", "--select", "int_identity__signature_occurrences int_identity__signature_persons"],
            warehouse=warehouse)  # fmt: skip
    assert records("crm:gone") == [] and records(untouched) == [count]


@pytest.mark.slow  # three partial builds and two full refreshes of the demo warehouse
def test_nodes_and_identifiers_recompute_only_what_changed(warehouse: Path, tmp_path: Path) -> None:
    """A daily run of int_identity__nodes recomputes only the identifiers of the signatures rewritten since its mark,
    and int_identity__identifiers only those whose node was written or removed and those the identity step listed:
    a row nobody rewrote is not read (a tampered count stays). The shared-value check stays exact: an email five new
    CRM contacts take is shared, then usable again when they go; a deleted contact's id leaves both tables. Each
    day equals a full rebuild of both."""
    select = "+int_identity__signature_persons"
    nodes, identifiers = "main.int_identity__nodes", "main.int_identity__identifiers"
    with connect(warehouse) as wh:
        email, person = wh.execute(
            f"select identifier_value, person_id from {identifiers} where identifier_type = 'email' "
            "and person_id is not null order by 1 limit 1"
        ).fetchone()
        deleted = wh.execute("select contact_id from raw.crm_contacts order by contact_id desc limit 1").fetchone()[0]
        untouched = wh.execute(  # an identifier of another person, that no change below reaches
            f"select identifier_key from {identifiers} where identifier_type = 'cookie' and person_id is not null "
            f"and person_id <> ? and person_id not in (select person_id from {identifiers} "
            "where identifier_key = 'crm_id:' || ?) order by 1 limit 1",
            [person, deleted],
        ).fetchone()[0]
        count = wh.execute(f"select occurrences from {nodes} where identifier_key = ?", [untouched]).fetchone()[0]
        wh.execute(f"update {nodes} set occurrences = -1 where identifier_key = ?", [untouched])
        wh.execute(f"update {identifiers} set occurrences = -1 where identifier_key = ?", [untouched])
        columns = list(wh.columns("raw", "crm_contacts"))
        values = ", ".join(
            "'shared-' || contact_id" if c == "contact_id" else "?" if c == "email" else "null" if c == "phone" else c
            for c in columns
        )
        wh.execute(  # five contacts take the email: it is seen with more strong identifiers than allowed
            f"insert into raw.crm_contacts ({', '.join(columns)}) select {values} from raw.crm_contacts "
            "where contact_id in (select contact_id from raw.crm_contacts order by contact_id limit 5)",
            [email],
        )
        wh.execute("delete from raw.crm_contacts where contact_id = ?", [deleted])
    pipeline.build(warehouse=warehouse, select=select)

    def row(table: str, key: str) -> tuple | None:
        with connect(warehouse) as wh:
            return wh.execute(
                f"select occurrences, block_reason from {table} where identifier_key = ?", [key]
            ).fetchone()

    assert row(nodes, f"email:{email}")[1].startswith("shared: seen with")
    assert row(identifiers, f"email:{email}")[1].startswith("shared: seen with")
    assert row(nodes, f"crm_id:{deleted}") is None and row(identifiers, f"crm_id:{deleted}") is None
    assert row(nodes, untouched)[0] == -1 and row(identifiers, untouched)[0] == -1  # not read: not rewritten

    def equals_a_full_rebuild() -> None:
        with connect(warehouse) as wh:
            assert wh.execute("select count(*) from outflow_identity.changed_identifiers").fetchone()[0] == 0
        incremental = {model: _rows(warehouse, model) for model in ("int_identity__nodes", "int_identity__identifiers")}
        full = tmp_path / "full.duckdb"
        shutil.copy(warehouse, full)
        run_dbt(["run", "--select", "int_identity__nodes int_identity__identifiers", "--full-refresh"], warehouse=full)
        for model, rows in incremental.items():
            assert rows == _rows(full, model), f"{model}: the incremental build differs from a full rebuild"

    with connect(warehouse) as wh:
        for table in (nodes, identifiers):
            wh.execute(f"update {table} set occurrences = ? where identifier_key = ?", [count, untouched])
    equals_a_full_rebuild()

    with connect(warehouse) as wh:
        wh.execute("delete from raw.crm_contacts where contact_id like 'shared-%'")
    pipeline.build(warehouse=warehouse, select=select)
    assert row(nodes, f"email:{email}")[1] is None  # usable again
    with connect(warehouse) as wh:
        assert wh.execute(f"select person_id from {identifiers} where identifier_key = ?",
                          [f"email:{email}"]).fetchone()[0] == person  # fmt: skip
    equals_a_full_rebuild()


def test_the_changed_identifiers_stay_listed_until_both_readers_read_them(warehouse: Path) -> None:
    """int_identity__signature_persons empties the identity step's list only when int_identity__identifiers read it
    in the same dbt invocation: run alone, it leaves the list for the identifiers' next run."""
    listed = "outflow_identity.changed_identifiers"
    with connect(warehouse) as wh:
        key = wh.execute("select identifier_type, identifier_value from main.int_identity__identifiers limit 1")
        wh.execute(f"insert into {listed} (identifier_type, identifier_value) values (?, ?)", list(key.fetchone()))
    run_dbt(["run", "--select", "int_identity__signature_persons"], warehouse=warehouse)
    with connect(warehouse) as wh:
        assert wh.execute(f"select count(*) from {listed}").fetchone()[0] == 1
    run_dbt(["run", "--select", "int_identity__identifiers int_identity__signature_persons"], warehouse=warehouse)
    with connect(warehouse) as wh:
        assert wh.execute(f"select count(*) from {listed}").fetchone()[0] == 0


def _signature_rows(wh) -> dict[str, tuple]:
    """int_identity__signatures by signature_id, without the stamp of the run that wrote them (written_at)."""
    columns = [c for c in wh.columns("main", "int_identity__signatures") if c != "written_at"]
    rows = wh.execute(f"select {', '.join(columns)} from main.int_identity__signatures").fetchall()
    return {row[columns.index("signature_id")]: row for row in rows}


@pytest.mark.slow  # a copy of the demo build per target, two daily runs and a full refresh of the signatures
def test_signatures_restage_only_the_records_that_changed(demo_warehouse: Location) -> None:
    """A daily run of int_identity__signatures restages only the CRM contacts, orders and consent events whose raw
    fingerprint changed (and the consent events of their identifiers), on each target: a contact that takes
    another email moves its signature, a deleted one loses it, an order that loses its phone and the consent
    signatures of a deleted and of a late event are rewritten, and nothing else of those sources is written or
    read (a tampered stored row of an untouched contact stays). The result equals a full rebuild. Without the
    kept fingerprints (a table from before them) every record is restaged again."""
    signatures = "main.int_identity__signatures"
    with demo_warehouse.connect() as wh:
        (moved, _), (deleted, _), (untouched, _), (_, other_email) = wh.execute(
            "select contact_id, email from raw.crm_contacts where email is not null and phone is not null "
            "order by contact_id limit 4"
        ).fetchall()
        wh.execute("update raw.crm_contacts set email = ? where contact_id = ?", [other_email, moved])
        wh.execute("delete from raw.crm_contacts where contact_id = ?", [deleted])
        order = wh.execute(
            f"select record_key from {signatures} where source = 'order' and phone is not null "
            "and email_canonical is not null order by 1 limit 1"
        ).fetchone()[0]
        wh.execute("update raw.orders set phone = null where order_id = ?", [order])
        # a consent signature of several events loses its newest one; another gets a late event with a smaller id
        # than its events (its id changes: the old one is removed)
        shrunk, shrunk_type, shrunk_value = wh.execute(
            f"select signature_id, identifier_type, identifier_value from {signatures} "
            "where source = 'consent' and records > 1 order by signature_id limit 1"
        ).fetchone()
        wh.execute(
            "delete from raw.consent_events where event_id = (select max(event_id) from main.stg_consent__events "
            "where identifier_type = ? and identifier_value = ?)",
            [shrunk_type, shrunk_value],
        )
        renamed, first_event = wh.execute(
            f"select signature_id, substr(signature_id, 9) from {signatures} "
            "where source = 'consent' and signature_id <> ? order by signature_id limit 1",
            [shrunk],
        ).fetchone()
        wh.execute(
            "insert into raw.consent_events select 'A-late', identifier_type, identifier, purpose, channel, status, "
            "source, occurred_at - interval '1 day' from raw.consent_events where event_id = ?",
            [first_event],
        )
        # a stored row that a run reading every contact would find changed, and rewrite
        wh.execute(f"update {signatures} set phone = 'tampered' where signature_id = ?", [f"crm:{untouched}"])
    run_dbt_on(["run", "--select", "int_identity__signatures"], warehouse=demo_warehouse.ref)

    with demo_warehouse.connect() as wh:
        written = {r[0] for r in wh.execute(
            "select signature_id from main.int_identity__signatures__written "
            "where signature_id not like 'web:%' and signature_id not like 'email:%'"
        ).fetchall()}  # fmt: skip
        incremental = _signature_rows(wh)
    assert written == {f"crm:{moved}", f"crm:{deleted}", f"order:{order}", shrunk, renamed, "consent:A-late"}, (
        "the day wrote CRM, order or consent signatures of records that did not change"
    )
    assert incremental[f"crm:{untouched}"][6] == "tampered"  # not restaged, so not compared
    assert f"crm:{deleted}" not in incremental and renamed not in incremental and "consent:A-late" in incremental
    assert incremental[f"order:{order}"][6] is None
    with demo_warehouse.connect() as wh:
        other = wh.execute(
            "select email_canonical from main.stg_crm__contacts where contact_id = ?", [moved]
        ).fetchone()[0]
    assert incremental[f"crm:{moved}"][5] == other
    narrowed = {k: row for k, row in incremental.items() if k != f"crm:{untouched}"}

    # without the kept fingerprints every record is restaged: the tampered row is found and written again
    with demo_warehouse.connect() as wh:
        wh.execute("drop table main.int_identity__signatures__fingerprints")
    run_dbt_on(["run", "--select", "int_identity__signatures"], warehouse=demo_warehouse.ref)
    with demo_warehouse.connect() as wh:
        incremental = _signature_rows(wh)
        assert wh.table_exists("main", "int_identity__signatures__fingerprints")
    assert incremental[f"crm:{untouched}"][6] != "tampered"
    run_dbt_on(["run", "--select", "int_identity__signatures", "--full-refresh"], warehouse=demo_warehouse.ref)
    with demo_warehouse.connect() as wh:
        full = _signature_rows(wh)
    assert incremental == full
    assert narrowed == {k: row for k, row in full.items() if k != f"crm:{untouched}"}
