"""The identity graph built on identifier signatures gives what the same graph built record by record gives, on
the demo warehouse, on DuckDB and PostgreSQL: each test recomputes a table per record from the record-level
occurrences (int_identity__occurrences, a view over staging) and compares it with the signature-level model, row
for row (EXCEPT ALL both ways). A wrong record count, first record or sighting of a signature, a signature
joined to the wrong records (a null column not matching a null), or a consumer joining the wrong signature
would leave rows on one side."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from outflow.build import run_dbt
from outflow.warehouse import connect

# int_identity__pairs as it was computed on records: one row per record and identifier
PAIRS_PER_RECORD = """
with in_multi as (
    select record_id, identifier_type || ':' || identifier_value as identifier_key,
        min(observed_at) as first_seen_at, max(observed_at) as last_seen_at
    from main.int_identity__occurrences
    where record_id in (select record_id from main.int_identity__occurrences group by record_id having count(*) > 1)
    group by record_id, identifier_type, identifier_value
)
select a.identifier_key as a, b.identifier_key as b, count(*) as records, min(a.first_seen_at) as first_seen_at,
    max(a.last_seen_at) as last_seen_at, min(a.record_id) as source_record
from in_multi as a
inner join in_multi as b on a.record_id = b.record_id and a.identifier_key < b.identifier_key
group by 1, 2
"""

NODES_PER_RECORD = """
select identifier_type, identifier_value, min(observed_at) as first_seen_at, max(observed_at) as last_seen_at,
    count(*) as occurrences
from main.int_identity__occurrences
group by 1, 2
"""

# each record's person: its strongest identifier's, ranked as int_identity__signature_persons ranks them
RECORD_PERSONS_PER_RECORD = """
with ranked as (
    select identifier_type, identifier_value, person_id,
        row_number() over (order by case identifier_type when 'crm_id' then 1 when 'user_id' then 2
            when 'email' then 3 when 'phone' then 4 else 5 end, identifier_type, identifier_value) as strength
    from main.int_identity__identifiers where person_id is not null
),
strongest as (
    select o.record_id, o.source, min(r.strength) as strength
    from main.int_identity__occurrences as o
    inner join ranked as r on r.identifier_type = o.identifier_type and r.identifier_value = o.identifier_value
    group by o.record_id, o.source
)
select s.record_id, s.source, r.person_id from strongest as s inner join ranked as r on r.strength = s.strength
"""

# fct_events' person of each event, by record id
EVENT_PERSONS = """
select case source when 'order' then 'order:' else source || ':' end || event_id as record_id, person_id
from main.fct_events
"""


PAIR_COLUMNS = "a, b, records, first_seen_at, last_seen_at, source_record"
NODE_COLUMNS = "identifier_type, identifier_value, first_seen_at, last_seen_at, occurrences"


def _differences(wh, left: str, right: str) -> tuple[int, int]:
    one = lambda sql: wh.execute(sql).fetchall()[0][0]  # noqa: E731
    return (
        one(f"select count(*) from (({left}) except all ({right})) as d"),
        one(f"select count(*) from (({right}) except all ({left})) as d"),
    )


@pytest.mark.parametrize(
    ("per_record", "model"),
    [
        (PAIRS_PER_RECORD, f"select {PAIR_COLUMNS} from main.int_identity__pairs"),
        (NODES_PER_RECORD, f"select {NODE_COLUMNS} from main.int_identity__nodes"),
        (RECORD_PERSONS_PER_RECORD, "select record_id, source, person_id from main.int_identity__record_persons"),
    ],
    ids=["pairs", "nodes", "record_persons"],
)
def test_signature_models_equal_the_per_record_computation(demo_built: str, per_record: str, model: str) -> None:
    with connect(demo_built) as wh:
        rows = wh.execute(f"select count(*) from ({model}) as m").fetchall()[0][0]
        assert rows > 1000  # the demo has thousands of each
        assert _differences(wh, per_record, model) == (0, 0)


def test_signatures_cover_every_record_once(demo_built: str) -> None:
    """The signatures' record counts add up to the records of each source, and web and email events collapse."""
    with connect(demo_built) as wh:
        per_source = dict(wh.execute(
            "select source, count(distinct record_id) from main.int_identity__occurrences group by source"
        ).fetchall())  # fmt: skip
        signatures = {
            source: (int(records), int(n))
            for source, records, n in wh.execute(
                "select source, sum(records), count(*) from main.int_identity__signatures group by source"
            ).fetchall()
        }
    assert {s: r for s, (r, _) in signatures.items()} == per_source
    assert signatures["web"][1] < signatures["web"][0] and signatures["email"][1] < signatures["email"][0]


def test_fct_events_persons_are_the_record_persons(demo_built: str) -> None:
    """Every web, email and order event with a person in fct_events has its record's person, and every such
    record is there: the join on natural columns (nulls included) finds the same signature as the record id."""
    records = (
        "select record_id, person_id from main.int_identity__record_persons where source in ('web', 'email', 'order')"
    )
    with connect(demo_built) as wh:
        web_without_email = wh.execute(
            "select count(*) from main.stg_web__events where email_canonical is null and cookie_id is not null"
        ).fetchall()[0][0]
        assert web_without_email > 0  # null columns must match nulls for these
        assert _differences(wh, EVENT_PERSONS, records) == (0, 0)


def test_signature_occurrences_hold_one_identifier_per_type_and_count_them(demo_built: str) -> None:
    """int_identity__signature_persons ranks a signature's identifiers by type alone, and int_identity__pairs takes
    the signatures with several identifiers by `signature_identifiers`: both hold only if each signature lists at
    most one identifier of each type and the count is its number of rows."""
    with connect(demo_built) as wh:
        one = lambda sql: wh.execute(sql).fetchall()[0][0]  # noqa: E731
        assert (
            one(
                "select count(*) from (select signature_id, identifier_type "
                "from main.int_identity__signature_occurrences group by 1, 2 having count(*) > 1) as d"
            )
            == 0
        )
        counts = (
            "select signature_id, count(*) as n, min(signature_identifiers) as low, max(signature_identifiers) as high "
            "from main.int_identity__signature_occurrences group by signature_id"
        )
        assert one(f"select count(*) from ({counts}) as c where n <> low or n <> high") == 0
        assert one(f"select count(*) from ({counts}) as c where n > 1") > 1000


# int_identity__signature_occurrences as one filtered read of the signatures per identifier column (the model
# unpivots each signature in one read, by a cross join with a slot per column)
OCCURRENCES_PER_COLUMN = " union all ".join(
    f"select signature_id, {identifier_type} as identifier_type, {value} as identifier_value, records, "
    f"first_seen_at, last_seen_at, written_at from main.int_identity__signatures where {condition}"
    for identifier_type, value, condition in [
        ("'crm_id'", "record_key", "source = 'crm'"),
        ("'email'", "email_canonical", "email_canonical is not null"),
        ("'phone'", "phone", "phone is not null"),
        ("'cookie'", "cookie_id", "cookie_id is not null"),
        ("'user_id'", "user_id", "user_id is not null"),
        ("identifier_type", "identifier_value", "source = 'consent'"),
    ]
)


def test_signature_occurrences_are_each_signatures_identifier_columns(demo_built: str) -> None:
    """Each signature's occurrences are its identifier columns that hold a value (a CRM id only for a CRM contact,
    a consent signature's own identifier), with its records, sightings and stamp: an unpivot slot reading the
    wrong column, or a condition applied to the wrong slot, leaves rows on one side."""
    model = (
        "select signature_id, identifier_type, identifier_value, records, first_seen_at, last_seen_at, written_at "
        "from main.int_identity__signature_occurrences"
    )
    with connect(demo_built) as wh:
        types = {r[0] for r in wh.execute(f"select distinct identifier_type from ({model}) as m").fetchall()}
        assert {"crm_id", "email", "phone", "cookie", "user_id"} <= types
        assert _differences(wh, OCCURRENCES_PER_COLUMN, model) == (0, 0)


def test_edges_are_the_pairs_whose_ends_are_usable(demo_built: str) -> None:
    """int_identity__edges drops the pairs with a blocked end (a join with the few blocked nodes): the usable ends,
    as a full build gives them, only if every end of a pair is a node. The record edges are then the pairs whose
    ends are both usable nodes, some pairs having a blocked end."""
    usable = "select identifier_key from main.int_identity__nodes where block_reason is null"
    pairs = f"select {PAIR_COLUMNS} from main.int_identity__pairs"
    with connect(demo_built) as wh:
        one = lambda sql: wh.execute(sql).fetchall()[0][0]  # noqa: E731
        nodes = "select identifier_key from main.int_identity__nodes"
        assert one(f"select count(*) from main.int_identity__pairs where a not in ({nodes}) or b not in ({nodes})") == 0
        assert one(f"select count(*) from ({pairs}) as p where a not in ({usable}) or b not in ({usable})") > 0
        edges = f"select {PAIR_COLUMNS} from main.int_identity__edges where origin = 'record'"
        assert _differences(wh, f"{pairs} where a in ({usable}) and b in ({usable})", edges) == (0, 0)


# int_identity__pairs as its daily run computes them: the occurrences of each signature with several identifiers
# joined to themselves (a build from scratch takes them from each signature's row instead)
PAIRS_FROM_OCCURRENCES = """
with in_multi as (
    select signature_id, identifier_type || ':' || identifier_value as identifier_key, records, first_seen_at,
        last_seen_at
    from main.int_identity__signature_occurrences
    where signature_identifiers > 1
)
select x.identifier_key as a, y.identifier_key as b, cast(sum(x.records) as bigint) as records,
    min(x.first_seen_at) as first_seen_at, max(x.last_seen_at) as last_seen_at, min(x.signature_id) as source_record
from in_multi as x
inner join in_multi as y on x.signature_id = y.signature_id and x.identifier_key < y.identifier_key
group by 1, 2
"""

# the values int_identity__nodes blocks as shared: seen with more than {limit} distinct strong identifiers (the
# demo's identity_strong_types), the other end's type read by splitting its key
SHARED_FROM_PAIRS = """
select identifier_key, 'shared: seen with ' || cast(count(*) as varchar) || ' strong identifiers' as block_reason
from (select a as identifier_key, b as other from main.int_identity__pairs
      union all select b, a from main.int_identity__pairs) as neighbours
where split_part(other, ':', 1) in ('email', 'crm_id', 'user_id')
group by identifier_key
having count(*) > {limit}
"""


def test_pairs_from_scratch_equal_the_occurrences_joined_to_themselves(demo_built: str) -> None:
    """A build from scratch takes each signature's pairs from its row of int_identity__signatures (its identifier
    columns side by side), a daily run from its occurrences: both must give the same pairs, so a column the
    occurrences unpivot and the pairs' row does not (or a key written otherwise) leaves rows on one side."""
    with connect(demo_built) as wh:
        assert wh.execute("select count(*) from main.int_identity__pairs").fetchall()[0][0] > 1000
        pairs = f"select {PAIR_COLUMNS} from main.int_identity__pairs"
        assert _differences(wh, PAIRS_FROM_OCCURRENCES, pairs) == (0, 0)


def test_shared_values_are_those_seen_with_too_many_strong_identifiers(built_warehouse: Path, tmp_path: Path) -> None:
    """int_identity__nodes finds a pair's strong end by its key's prefix ('<type>:'), not by splitting the key: the
    shared values it blocks are those the split finds, with the same count. The demo has no shared value at its
    limit, so the nodes are rebuilt on a copy with a limit of one (a value blocked first by a junk rule keeps that
    reason, so only the shared reasons and the unblocked values are compared)."""
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(built_warehouse, warehouse)
    run_dbt(["run", "--select", "int_identity__nodes", "--full-refresh", "--vars", "{identity_max_strong_links: 1}"],
            warehouse=warehouse)  # fmt: skip
    nodes = "select identifier_key, block_reason from main.int_identity__nodes"
    with connect(warehouse) as wh:
        shared = f"select * from ({nodes}) as n where block_reason like 'shared:%'"
        assert wh.execute(f"select count(*) from ({shared}) as s").fetchall()[0][0] > 100
        from_pairs = (
            f"select s.* from ({SHARED_FROM_PAIRS.format(limit=1)}) as s "
            f"inner join ({nodes}) as n on n.identifier_key = s.identifier_key "
            "where n.block_reason like 'shared:%' or n.block_reason is null"
        )
        assert _differences(wh, from_pairs, shared) == (0, 0)
