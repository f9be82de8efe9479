"""int_identity__signature_persons from scratch takes a signature with one identifier straight from that identifier
(no aggregate) and one with several from an aggregate over them: on the demo warehouse (DuckDB and PostgreSQL)
both parts together must give, row for row, what ranking every signature's identifiers one by one gives (the
window the daily run uses), so a signature missed, written twice or given another identifier's person leaves
rows on one side."""

from __future__ import annotations

from outflow.warehouse import connect

# each signature's person by a window over its identifiers that identify a person, strongest first (the order
# of int_identity__signature_persons), joined to the signature's natural columns
RANKED = """
with ranked as (
    select o.signature_id, i.person_id,
        row_number() over (
            partition by o.signature_id
            order by case o.identifier_type when 'crm_id' then 1 when 'user_id' then 2 when 'email' then 3
                when 'phone' then 4 else 5 end, o.identifier_type, o.identifier_value
        ) as strength
    from main.int_identity__signature_occurrences as o
    inner join main.int_identity__identifiers as i
        on i.identifier_type = o.identifier_type and i.identifier_value = o.identifier_value
    where i.person_id is not null
)
select s.source, s.signature_id, r.person_id, s.record_key, s.cookie_id, s.user_id, s.email_canonical,
    s.identifier_type, s.identifier_value, s.records
from ranked as r inner join main.int_identity__signatures as s on s.signature_id = r.signature_id
where r.strength = 1
"""
COLUMNS = "source, signature_id, person_id, record_key, cookie_id, user_id, email_canonical, identifier_type, "
COLUMNS += "identifier_value, records"


def test_signature_persons_equal_every_signature_ranked(demo_built: str) -> None:
    model = f"select {COLUMNS} from main.int_identity__signature_persons"
    with connect(demo_built) as wh:
        one = lambda sql: wh.execute(sql).fetchall()[0][0]  # noqa: E731
        # both parts are exercised: thousands of signatures with one identifier and with several hold a person
        held = (
            "select count(distinct p.signature_id) from main.int_identity__signature_persons as p inner join "
            "main.int_identity__signature_occurrences as o on o.signature_id = p.signature_id "
            "where o.signature_identifiers {} 1"
        )
        assert one(held.format("=")) > 1000 and one(held.format(">")) > 1000
        assert one(f"select count(*) from (({model}) except all ({RANKED})) as d") == 0
        assert one(f"select count(*) from (({RANKED}) except all ({model})) as d") == 0
