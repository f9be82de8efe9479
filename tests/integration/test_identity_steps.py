"""The steps between dbt models (normalization of countries, phones and emails; identity resolution) give the
answers of the pure functions and of the resolver on the graph dbt built, incrementally, on DuckDB and on
PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from outflow import normalize, phones, pipeline, settings
from outflow.errors import OutflowError
from outflow.identity_fuzzy import clear_fuzzy
from outflow.identity_graph import GraphConfig, resolve_graph
from outflow.person_map import PERSON_MAP, identity_config, resolve_person_map
from outflow.phones import EMAILS, LOOKUP, normalize_emails, normalize_phones
from outflow.warehouse import connect
from tests.warehouse_fixtures import fresh_database

# Every distinct raw phone with its capture country (an order's from its buyer's CRM records) and source, straight
# from the raw tables.
DISTINCT_PHONES = """
    select distinct phone as phone_raw, country as country_raw, 'crm' as source
    from raw.crm_contacts where phone is not null
    union all
    select distinct o.phone, c.country_raw, 'order' from raw.orders as o
    left join (  -- the buyer's country from their CRM records, when they name one
        select lower(trim(email)) as email, min(country) as country_raw from raw.crm_contacts
        where email is not null and country is not null group by 1 having count(distinct lower(trim(country))) = 1
    ) as c on c.email = lower(trim(o.email))
    where o.phone is not null
    union all
    select distinct identifier, null, 'consent' from raw.consent_events where identifier_type = 'phone'
    union all
    select distinct identifier, null, 'erasure' from raw.erasure_requests
    where identifier_type = 'phone' and identifier not like 'erased:sha256:%'
    union all
    select distinct identifier_value, null, 'exclusion' from main.global_exclusions
    where lower(trim(identifier_type)) = 'phone'
"""
MAP_COLUMNS = ["identifier_key", "person_id", "is_shared", "cluster_size"]


def _rows(df: pl.DataFrame, columns: list[str]) -> list[tuple]:
    return sorted(df.select(columns).rows(), key=lambda r: tuple((v is None, str(v)) for v in r))


def _edges_as_table(wh) -> None:
    """int_identity__edges (a view) replaced by a table of its rows, so that a test can add and remove edges."""
    wh.execute("create table main.edges_rows as select * from main.int_identity__edges")
    wh.execute("drop view main.int_identity__edges")
    wh.execute("alter table main.edges_rows rename to int_identity__edges")


def _expected_phones(wh) -> pl.DataFrame:
    """The pure functions on every distinct raw phone: region from the country (pycountry), else US."""
    rows = []
    for raw, country, source in wh.fetch_polars(DISTINCT_PHONES).rows():
        region = normalize.country_iso2(country) or "US"
        parsed = normalize.phone(raw, region)
        rows.append((raw, country, source, region, parsed.e164, parsed.extension))
    return pl.DataFrame(
        rows, schema=["phone_raw", "country_raw", "source", "region", "phone_e164", "phone_extension"], orient="row"
    )


def _former_person_map(wh, previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """The resolver on the graph dbt built, with the ids issued before."""
    nodes = wh.fetch_polars(
        "select identifier_key as key, identifier_type as type from main.int_identity__nodes where block_reason is null"
    )
    edges = wh.fetch_polars("select * from main.int_identity__edges")
    # a first run knows no ids; a later one every id issued before
    registry = None if previous is None else wh.fetch_polars("select * from outflow_identity.person_ids")
    prev = None if previous is None else previous.select(pl.col("identifier_key").alias("key"), "person_id")
    resolved = resolve_graph(nodes, edges, previous=prev, registry=registry, overrides=[], config=GraphConfig())
    return resolved.persons.rename({"key": "identifier_key"})


@pytest.fixture
def warehouse_copy(built_warehouse: Path, tmp_path: Path) -> Path:
    copy = tmp_path / built_warehouse.name
    shutil.copy(built_warehouse, copy)
    return copy


def test_phone_lookup_equals_the_pure_function(built_warehouse: Path) -> None:
    columns = ["phone_raw", "country_raw", "source", "region", "phone_e164", "phone_extension"]
    with connect(built_warehouse) as wh:
        expected = _expected_phones(wh)
        staged = wh.fetch_polars(f"select {', '.join(columns)} from main.stg_phones__e164")
        crm = wh.fetch_polars("select count(*) as n from main.stg_crm__contacts where phone_e164 is not null")
    assert expected.height > 1000 and expected["phone_e164"].null_count() > 0  # the demo has invalid phones too
    assert _rows(staged, columns) == _rows(expected, columns)
    assert crm["n"][0] > 0


def test_email_lookup_equals_the_pure_function(built_warehouse: Path) -> None:
    with connect(built_warehouse) as wh:
        staged = wh.fetch_polars("select email_raw, email_address, email_canonical from main.stg_emails__normalized")
    assert staged.height > 1000
    expected = [(r, normalize.email(r).address, normalize.email(r).canonical) for r in staged["email_raw"]]
    assert _rows(staged, ["email_raw", "email_address", "email_canonical"]) == sorted(
        expected, key=lambda r: tuple((v is None, str(v)) for v in r)
    )


def test_phone_step_parses_only_new_pairs(warehouse_copy: Path) -> None:
    with connect(warehouse_copy) as wh:
        before = wh.execute(f"select count(*) from {LOOKUP}").fetchone()[0]
        assert normalize_phones(wh) == 0
        wh.execute(
            "insert into raw.orders (order_id, email, phone, user_id, amount, currency, status, ordered_at) "
            "values ('O-new', null, '(212) 555-0147', null, 1, 'USD', 'completed', timestamp '2026-10-30 10:00:00')"
        )
        assert normalize_phones(wh) == 1
        assert wh.execute(f"select count(*) from {LOOKUP}").fetchone()[0] == before + 1
        assert normalize_emails(wh) == 0
        wh.execute(
            "insert into raw.orders (order_id, email, phone, user_id, amount, currency, status, ordered_at) "
            "values ('O-new2', 'mailto:New.Buyer@Example.com.', '0044 20 7946 0958 ext. 9', null, 1, 'USD', "
            "'completed', timestamp '2026-10-30 10:00:00')"
        )
        assert (normalize_phones(wh), normalize_emails(wh)) == (1, 1)
        row = wh.execute("select phone_e164 from main.stg_shop__orders where order_id = 'O-new'").fetchone()
        row2 = wh.execute(
            "select email, email_canonical, phone_e164, phone_extension from main.stg_shop__orders "
            "where order_id = 'O-new2'"
        ).fetchone()
    assert row == ("+12125550147",)
    assert row2 == ("new.buyer@example.com", "new.buyer@example.com", "+442079460958", "9")


def test_email_step_in_small_chunks_writes_the_same_lookup(warehouse_copy: Path, monkeypatch) -> None:
    columns = "email_raw, email_address, email_canonical, reject_reason"
    with connect(warehouse_copy) as wh:
        whole = wh.fetch_polars(f"select {columns} from {EMAILS}")
        wh.execute(f"delete from {EMAILS}")
        monkeypatch.setattr(phones, "EMAIL_CHUNK", 97)
        assert normalize_emails(wh) == whole.height > 1000
        chunked = wh.fetch_polars(f"select {columns} from {EMAILS}")
    assert chunked.height == whole.height
    assert _rows(chunked, columns.split(", ")) == _rows(whole, columns.split(", "))


def test_person_map_equals_the_former_model_and_keeps_ids(warehouse_copy: Path) -> None:
    with connect(warehouse_copy) as wh:
        written = wh.fetch_polars("select * from outflow_identity.person_map")
        assert _rows(written, MAP_COLUMNS) == _rows(_former_person_map(wh), MAP_COLUMNS)
        # the next run seeds ids from this map, and an identifier that left the graph keeps its row
        wh.execute(
            "insert into outflow_identity.person_map (identifier_key, person_id, is_shared, cluster_size) "
            "values ('cookie:gone', 'p_0000000000000000', false, 1)"
        )
        previous = wh.fetch_polars("select * from outflow_identity.person_map")
        expected = pl.concat(
            [
                _former_person_map(wh, previous).select(MAP_COLUMNS),
                previous.filter(pl.col("identifier_key") == "cookie:gone").select(MAP_COLUMNS),
            ]
        )
        assert resolve_person_map(wh) == written.height
        again = wh.fetch_polars("select * from outflow_identity.person_map")
    assert _rows(again, MAP_COLUMNS) == _rows(expected, MAP_COLUMNS)


def test_switching_the_fuzzy_stage_off_forgets_its_edges(warehouse_copy: Path) -> None:
    """Edges carry their origin: the fuzzy stage's pair is remembered while the stage is on (its table exists)
    and dropped from the remembered edges once it is off, so the pair it linked splits again."""
    person = "select person_id from outflow_identity.person_map where identifier_key = ?"
    with connect(warehouse_copy) as wh:
        origins = wh.fetch_polars("select distinct origin from main.int_identity__edges")["origin"].to_list()
        assert origins == ["record"]  # the stage is off in the demo build
        record_edges = wh.execute("select count(*) from outflow_identity.edges_seen").fetchone()[0]
        user = wh.execute(
            "select identifier_key from outflow_identity.person_map where identifier_key like 'user_id:%' "
            "and not is_shared order by identifier_key limit 1"
        ).fetchone()[0]
        # on: the stage's table exists and the edges model carries its pair
        wh.execute("create table outflow_identity.fuzzy_links (record_id_l varchar, record_id_r varchar)")
        new = "cookie:000-f"
        wh.execute("insert into main.int_identity__nodes (identifier_key, identifier_type) values (?, 'cookie')", [new])
        _edges_as_table(wh)
        edge = "insert into main.int_identity__edges (a, b, origin, records) values (?, ?, ?, 1)"
        wh.execute(edge, [new, user, "fuzzy"])
        resolve_person_map(wh)
        assert wh.execute(person, ["cookie:000-f"]).fetchone() == wh.execute(person, [user]).fetchone()
        seen = "select origin, count(*) from outflow_identity.edges_seen group by 1 order by 1"
        assert wh.execute(seen).fetchall() == [("fuzzy", 1), ("record", record_edges)]
        # off: the table is dropped and the model has no fuzzy pair; the remembered one goes too
        clear_fuzzy(wh)
        wh.execute("delete from main.int_identity__edges where origin = 'fuzzy'")
        resolve_person_map(wh)
        assert wh.execute(person, ["cookie:000-f"]).fetchone() != wh.execute(person, [user]).fetchone()
        assert wh.execute(seen).fetchall() == [("record", record_edges)]


def test_edges_remembered_before_origins_were_kept_read_as_record_edges(warehouse_copy: Path) -> None:
    with connect(warehouse_copy) as wh:
        before = wh.fetch_polars("select * from outflow_identity.person_map")
        wh.execute("alter table outflow_identity.edges_seen drop column origin")
        resolve_person_map(wh)
        origins = wh.execute("select distinct origin from outflow_identity.edges_seen").fetchall()
        after = wh.fetch_polars("select * from outflow_identity.person_map")
    assert origins == [("record",)]
    assert _rows(after, MAP_COLUMNS) == _rows(before, MAP_COLUMNS)


def test_guards_come_from_the_source_declaration(built_warehouse: Path, tmp_path: Path) -> None:
    assert identity_config() == GraphConfig(
        max_links_per_type={"user_id": 1, "crm_id": 3, "email": 2, "phone": 2}, max_cluster_size=200
    )
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps({"sources": {"source.outflow.outflow_identity.person_map": {"config": {"meta": {}}}}})
    )
    with pytest.raises(OutflowError, match=r"_intermediate.yml: source outflow_identity.person_map needs config.meta"):
        identity_config(manifest)


def test_steps_on_postgres_give_the_duckdb_answers(warehouse_copy: Path, postgres_url: str) -> None:
    """The same phone list and identity graph, pulled and pushed through the PostgreSQL back end, give the same
    lookup and the same person map as on DuckDB, on a first run and on a run seeded by the previous map."""
    inputs = {
        "stg_phones__distinct": "select * from main.stg_phones__distinct",
        "stg_countries__distinct": "select * from main.stg_countries__distinct",
        "stg_emails__distinct": "select * from main.stg_emails__distinct",
        "int_identity__nodes": "select identifier_key, identifier_type, block_reason from main.int_identity__nodes",
        "int_identity__edges": "select * from main.int_identity__edges",
    }
    # a new device that joins a known person, and an edge that merges two persons: ids must follow the map
    change = [
        "insert into main.int_identity__nodes (identifier_key, identifier_type) values ('cookie:000-new', 'cookie')",
        "insert into main.int_identity__edges (a, b, records) values ('cookie:000-new', ?, 1), (?, ?, 1)",
    ]
    with connect(warehouse_copy) as duck:
        tables = {name: duck.fetch_arrow(sql) for name, sql in inputs.items()}
        first = (duck.fetch_polars(f"select * from {LOOKUP}"), duck.fetch_polars(f"select * from {PERSON_MAP}"))
        duck_emails = duck.fetch_polars(f"select * from {EMAILS}")
        users = duck.fetch_polars(
            f"select identifier_key from {PERSON_MAP} where identifier_key like 'user_id:%' and not is_shared "
            "order by identifier_key limit 3"
        )["identifier_key"].to_list()
        duck.execute(change[0])
        _edges_as_table(duck)
        duck.execute(change[1], users)
        resolve_person_map(duck)
        second = duck.fetch_polars(f"select * from {PERSON_MAP}")
    with connect(url=fresh_database(postgres_url)) as pg:
        assert pg.target == "postgres"
        for name, table in tables.items():
            pg.write_arrow(f"main.{name}", table, mode="create")
        assert normalize_phones(pg) == first[0].height
        assert normalize_phones(pg) == 0
        assert normalize_emails(pg) == duck_emails.height
        pg_emails = pg.fetch_polars(f"select * from {EMAILS}")
        resolve_person_map(pg)
        pg_first = (pg.fetch_polars(f"select * from {LOOKUP}"), pg.fetch_polars(f"select * from {PERSON_MAP}"))
        pg.execute(change[0])
        pg.execute(change[1], users)
        resolve_person_map(pg)
        pg_second = pg.fetch_polars(f"select * from {PERSON_MAP}")
    phone_columns = ["phone_raw", "region", "phone_e164", "phone_extension", "reject_reason"]
    assert _rows(pg_emails, pg_emails.columns) == _rows(duck_emails, pg_emails.columns)
    assert _rows(pg_first[0], phone_columns) == _rows(first[0], phone_columns)
    assert _rows(pg_first[1], MAP_COLUMNS) == _rows(first[1], MAP_COLUMNS)
    assert _rows(pg_second, MAP_COLUMNS) == _rows(second, MAP_COLUMNS)
    # the second run really changed the map: the new device joined the first user's person, two persons merged
    ids = dict(second.select("identifier_key", "person_id").rows())
    assert ids["cookie:000-new"] == ids[users[0]] and ids[users[1]] == ids[users[2]]
    assert _rows(second, MAP_COLUMNS) != _rows(first[1], MAP_COLUMNS)


def test_build_runs_every_dbt_node_once_around_the_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three dbt invocations: up to the phone step's input, up to the identity step's, then the rest; every model,
    seed, snapshot, test and (asked for) unit test of the project runs exactly once, each step after its inputs.
    By default a build leaves the unit tests out and runs everything else."""
    warehouse = tmp_path / "w.duckdb"
    pipeline.generate_and_load(300, 7, warehouse=warehouse, data_dir=tmp_path / "data")
    calls: list[object] = []
    real_dbt, real_phones, real_map = pipeline.run_dbt, pipeline.normalize_phones, pipeline.resolve_person_map
    real_emails = pipeline.normalize_emails

    def dbt(args, **kwargs):
        run = real_dbt(args, **kwargs)
        calls.append([r["name"] for r in run.results])
        return run

    monkeypatch.setattr(pipeline, "run_dbt", dbt)
    monkeypatch.setattr(pipeline, "normalize_phones", lambda wh: calls.append("phones") or real_phones(wh))
    monkeypatch.setattr(pipeline, "normalize_emails", lambda wh: calls.append("emails") or real_emails(wh))
    monkeypatch.setattr(pipeline, "resolve_person_map", lambda wh: calls.append("identity") or real_map(wh))
    pipeline.build(warehouse=warehouse, unit_tests=True)

    assert [c if isinstance(c, str) else "dbt" for c in calls] == ["dbt", "phones", "emails", "dbt", "identity", "dbt"]
    before_phones, before_identity, rest = calls[0], calls[3], calls[5]
    # the identity's inputs read the phone step's lookup directly (stg_consent__events, the signatures); the view
    # stg_phones__e164 lists it for the readers after the identity step
    assert "stg_phones__distinct" in before_phones and "stg_consent__events" in before_identity
    assert "stg_phones__e164" in rest
    assert {"int_identity__nodes", "int_identity__edges"} <= set(before_identity)
    assert "int_identity__identifiers" in rest and "dim_profiles" in rest
    manifest = json.loads((settings.dbt_target_dir() / "manifest.json").read_text())
    project = [
        n["name"]
        for n in [*manifest["nodes"].values(), *manifest["unit_tests"].values()]
        if n["resource_type"] in ("model", "seed", "snapshot", "test", "unit_test")
    ]
    ran = [*before_phones, *before_identity, *rest]
    assert sorted(ran) == sorted(project)

    # by default, the same selection without the unit tests: the model's data tests run, its unit tests do not
    unit = {n["name"] for n in manifest["unit_tests"].values() if n["model"] == "fct_lead_scores"}
    assert len(unit) >= 2
    run = pipeline.build(warehouse=warehouse, select="fct_lead_scores")
    kinds = {r["name"]: r["resource_type"] for r in run.results}
    assert kinds["fct_lead_scores"] == "model" and "test" in kinds.values()
    assert "unit_test" not in kinds.values() and not unit & set(kinds)
    run = pipeline.build(warehouse=warehouse, select="fct_lead_scores", unit_tests=True)
    assert {r["name"] for r in run.results if r["resource_type"] == "unit_test"} == unit

    # a selection downstream of both steps builds only itself and runs no step
    calls.clear()
    pipeline.build(warehouse=warehouse, select="dim_profiles")
    assert calls[:2] == [[], []] and len(calls) == 3
    assert "dim_profiles" in calls[2] and "int_identity__identifiers" not in calls[2]


def test_an_ancestor_selection_builds_the_inputs_of_the_steps_it_reaches(tmp_path: Path) -> None:
    """dbt sees what the steps write (the person map, the lookups) as sources, not their inputs. On a warehouse only
    loaded, `+dim_profiles` still builds everything upstream: the phone step's and the identity step's inputs, both
    steps, then the profiles; and nothing the profiles do not need."""
    warehouse = tmp_path / "w.duckdb"
    pipeline.generate_and_load(200, 7, warehouse=warehouse, data_dir=tmp_path / "data")
    run = pipeline.build(warehouse=warehouse, select="+dim_profiles")
    built = {r["name"] for r in run.results}
    assert {"stg_phones__distinct", "int_identity__nodes", "int_identity__identifiers", "dim_profiles"} <= built
    assert "fct_lead_scores" not in built and "segment_membership" not in built
    with connect(warehouse) as wh:
        assert wh.execute(f"select count(*) from {LOOKUP}").fetchone()[0] > 0
        profiles, mapped = wh.execute(
            f"select (select count(*) from main.dim_profiles), (select count(*) from {PERSON_MAP})"
        ).fetchone()
    assert profiles > 0 and mapped > 0
