"""The CRM snapshot restages only the contacts that can get a new version (dbt_project/snapshots/snap_crm_contacts.sql)
and gives every other contact as its current version: the history it records must be dbt's timestamp strategy's,
whatever changed in the CRM between two runs, on each target."""

from __future__ import annotations

import pytest

from tests.demo_builds import run_dbt_on
from tests.warehouse_fixtures import Location

SNAPSHOT = "main.snap_crm_contacts"


def _columns(wh) -> list[str]:
    return list(wh.columns("main", "stg_crm__contacts"))


def _versions(wh, columns: list[str]) -> dict[str, list[tuple]]:
    """Each contact's versions, oldest first: its staged columns, valid from, and whether and when it was closed."""
    rows = wh.execute(
        f"select {', '.join(columns)}, dbt_valid_from, dbt_valid_to is null, dbt_valid_to from {SNAPSHOT} "
        "order by contact_id, dbt_valid_from, dbt_valid_to nulls last"
    ).fetchall()
    versions: dict[str, list[tuple]] = {}
    for row in rows:
        versions.setdefault(row[0], []).append(row)
    return versions


def _staged(wh, columns: list[str]) -> dict[str, tuple]:
    return {r[0]: r for r in wh.execute(f"select {', '.join(columns)} from main.stg_crm__contacts").fetchall()}


@pytest.mark.slow  # a copy of the demo build per target, and one dbt snapshot
def test_the_snapshot_records_what_the_timestamp_strategy_records(demo_warehouse: Location) -> None:
    with demo_warehouse.connect() as wh:
        columns = _columns(wh)
        before = _versions(wh, columns)
        width = len(columns)
        # contacts with one version, current, with an updated_at
        contacts = sorted(c for c, v in before.items() if len(v) == 1 and v[0][-2] and v[0][width] is not None)
        updated, in_place, deleted, unchanged = contacts[0], contacts[1], contacts[2], contacts[3:]
        # a contact updated (a later updated_at), one changed in place (updated_at kept: not recorded), one deleted,
        # one new (a copy of the updated one's raw row under another id, with its email, so no lookup is missing)
        wh.execute(
            "update raw.crm_contacts set job_title = 'Chief Snapshot Officer', "
            "updated_at = updated_at + interval '1 day' where contact_id = ?",
            [updated],
        )
        wh.execute("update raw.crm_contacts set city = 'Quietville' where contact_id = ?", [in_place])
        wh.execute("delete from raw.crm_contacts where contact_id = ?", [deleted])
        raw = list(wh.columns("raw", "crm_contacts"))
        copied = ", ".join("'snapshot-new'" if c == "contact_id" else c for c in raw)
        wh.execute(
            f"insert into raw.crm_contacts ({', '.join(raw)}) select {copied} from raw.crm_contacts "
            "where contact_id = ?",
            [updated],
        )
    run_dbt_on(["snapshot"], warehouse=demo_warehouse.ref)
    with demo_warehouse.connect() as wh:
        after = _versions(wh, columns)
        staged = _staged(wh, columns)
        new_updated_at = wh.execute(
            "select updated_at from raw.crm_contacts where contact_id = ?", [updated]
        ).fetchone()[0]
    # the updated contact: its old version closed when the new one starts, the new one as staged now
    old, new = after[updated]
    assert old[:width] == before[updated][0][:width] and not old[-2] and old[-1] == new_updated_at
    assert new[:width] == staged[updated] and new[-2] and new[width] == new_updated_at
    assert staged[updated][columns.index("job_title")] == "Chief Snapshot Officer"
    # the contact changed in place keeps its one version as it was (the timestamp strategy does not see it)
    assert after[in_place] == before[in_place]
    assert staged[in_place][columns.index("city")] == "Quietville"
    # the deleted contact's version is closed; the new contact has one version, as staged
    [gone] = after[deleted]
    assert gone[:width] == before[deleted][0][:width] and not gone[-2]
    [first] = after["snapshot-new"]
    assert first[:width] == staged["snapshot-new"] and first[-2]
    # every other contact is exactly as it was; every staged contact has one current version, and no other has
    assert all(after[c] == before[c] for c in unchanged) and len(unchanged) > 100
    current = {c for c, v in after.items() if any(r[-2] for r in v)}
    assert current == set(staged) and all(sum(r[-2] for r in after[c]) == 1 for c in current)
