"""A person keeps their person_id across dbt runs when new identifiers join them."""

from outflow.pipeline import build, generate_and_load
from outflow.warehouse import connect


def test_person_id_survives_a_new_identifier_on_a_later_run(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    generate_and_load(300, 5, warehouse=warehouse, data_dir=tmp_path / "data")
    build(warehouse=warehouse)
    with connect(warehouse) as con:
        person_id, user_id = con.execute(
            "select person_id, user_id from main.dim_profiles where user_id is not null order by person_id limit 1"
        ).fetchall()[0]
        before = con.execute("select count(*) from main.dim_profiles").fetchall()[0][0]
        # a new device, whose key sorts before every identifier the person had, logs in
        con.execute(
            "insert into raw.web_events values ('W-new-1', '000-new-device', ?, null, 'login', '/login', "
            "timestamp '2026-10-30 10:00:00', timestamp '2026-10-30 10:00:01')",
            [user_id],
        )
    build(warehouse=warehouse)
    with connect(warehouse) as con:
        joined = con.execute(
            "select person_id from main.int_identity__identifiers where identifier_key = 'cookie:000-new-device'"
        ).fetchall()[0][0]
        after_id = con.execute("select person_id from main.dim_profiles where user_id = ?", [user_id]).fetchall()[0][0]
        after = con.execute("select count(*) from main.dim_profiles").fetchall()[0][0]
    assert joined == person_id
    assert after_id == person_id
    assert after == before
