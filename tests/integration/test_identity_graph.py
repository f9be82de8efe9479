"""The identity graph through the real build: overrides, remembered edges, and ids that stay stable, unique and
deterministic over a multi-day incremental run."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from outflow import settings
from outflow.cli import app
from outflow.errors import OutflowError
from outflow.identity_graph import Override
from outflow.person_map import load_overrides, resolve_person_map
from outflow.pipeline import build, generate_and_load
from outflow.warehouse import connect

# each raw table and the column that says when its row arrived
ARRIVAL = {
    "crm_contacts": "updated_at",
    "web_events": "occurred_at",
    "email_events": "occurred_at",
    "orders": "ordered_at",
    "consent_events": "occurred_at",
    "erasure_requests": "requested_at",
}


def _grouping(wh) -> dict[str, str]:
    """Identifier key -> the smallest key of its person: the grouping, whatever the ids."""
    df = wh.fetch_polars(
        "select identifier_key as key, person_id from main.int_identity__identifiers where person_id is not null"
    )
    return dict(df.with_columns(group=pl.col("key").min().over("person_id")).select("key", "group").rows())


def _ids(wh) -> dict[str, str]:
    return dict(wh.execute("select identifier_key, person_id from outflow_identity.person_map").fetchall())


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    """A generated dataset loaded once (the from-scratch warehouse) and a copy cut back to its first day."""
    root = tmp_path_factory.mktemp("multiday")
    full = root / "full.duckdb"
    generate_and_load(250, 11, warehouse=full, data_dir=root / "data")
    incremental = root / "incremental.duckdb"
    shutil.copy(full, incremental)
    with connect(full) as wh:
        end = wh.execute("select max(occurred_at) from raw.web_events").fetchone()[0]
    cutoffs = [end - timedelta(days=60), end - timedelta(days=20)]
    with connect(incremental) as wh:
        for table, column in ARRIVAL.items():
            wh.execute(f"delete from raw.{table} where {column} > ?", [cutoffs[0]])
    return full, incremental, cutoffs


@pytest.mark.slow  # five builds of a small dataset (about two minutes)
def test_incremental_days_equal_a_build_from_scratch_with_stable_unique_ids(days, tmp_path: Path) -> None:
    full, incremental, cutoffs = days
    build(warehouse=incremental)
    history = []
    with connect(incremental) as wh:
        history.append(_ids(wh))
    # two more days arrive: each appends the rows of its period, and the build runs incrementally
    for start, end in zip(cutoffs, [*cutoffs[1:], None], strict=True):
        with connect(full) as src, connect(incremental) as dst:
            for table, column in ARRIVAL.items():
                where = f"{column} > ?" + (f" and {column} <= ?" if end else "")
                rows = src.fetch_arrow(f"select * from raw.{table} where {where}", [start, end] if end else [start])
                dst.write_arrow(f"raw.{table}", rows, mode="append")
        build(warehouse=incremental)
        with connect(incremental) as wh:
            history.append(_ids(wh))
    twin = tmp_path / "twin.duckdb"
    shutil.copy(full, twin)
    build(warehouse=full)
    build(warehouse=twin)
    with connect(incremental) as inc, connect(full) as scratch, connect(twin) as again:
        assert _grouping(inc) == _grouping(scratch)
        # identical inputs, identical ids
        assert _ids(scratch) == _ids(again)
        registry = inc.fetch_polars("select * from outflow_identity.person_ids")
        known = inc.fetch_polars(
            "select distinct i.person_id from main.int_identity__identifiers i "
            "where i.person_id is not null and i.identifier_type in ('crm_id', 'user_id', 'email')"
        )
        changes = inc.fetch_polars("select * from main.identity_changes")
    # every id ever issued is issued once; a known person never holds an id issued to a cookie-only one
    assert registry["person_id"].n_unique() == registry.height
    assert set(known["person_id"]) <= set(registry.filter(pl.col("known"))["person_id"])
    assert registry.height > len(set(history[0].values()))  # the later days did issue new ids
    # an id that moved is explained: every identifier that changed person is counted in identity_changes
    moved = sum(
        1
        for before, after in zip(history, history[1:], strict=False)
        for k, v in before.items()
        if v and after.get(k) not in (v, None)
    )
    assert moved == changes["identifiers"].sum()


def test_a_crm_email_change_keeps_the_old_emails_history(built_warehouse: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(built_warehouse, warehouse)
    with connect(warehouse) as wh:
        # a CRM contact whose email also has email events of its own
        contact, old = wh.execute(
            "select c.contact_id, c.email_canonical from main.stg_crm__contacts c "
            "join main.stg_email__events e using (email_canonical) "
            "join main.int_identity__identifiers i on i.identifier_key = 'email:' || c.email_canonical "
            "where i.person_id is not null order by 1 limit 1"
        ).fetchone()
        person = wh.execute(
            "select person_id from main.int_identity__identifiers where identifier_key = ?", [f"crm_id:{contact}"]
        ).fetchone()[0]
        wh.execute(
            "update raw.crm_contacts set email = 'changed.address@newmail.org', "
            "updated_at = updated_at + interval 1 day where contact_id = ?",
            [contact],
        )
    build(warehouse=warehouse)
    with connect(warehouse) as wh:
        ids = dict(
            wh.execute(
                "select identifier_key, person_id from main.int_identity__identifiers "
                "where identifier_key in (?, ?, ?)",
                [f"crm_id:{contact}", f"email:{old}", "email:changed.address@newmail.org"],
            ).fetchall()
        )
        edge = wh.execute(
            "select source_record from outflow_identity.edges_seen where a = ? and b = ?",
            sorted([f"crm_id:{contact}", f"email:{old}"]),
        ).fetchone()
        current = wh.execute(
            "select count(*) from main.int_identity__edges where a = ? and b = ?",
            sorted([f"crm_id:{contact}", f"email:{old}"]),
        ).fetchone()[0]
    assert current == 0  # the data no longer links them...
    assert edge == (f"crm:{contact}",)  # ...the graph remembers the record that did
    assert ids[f"email:{old}"] == ids[f"crm_id:{contact}"] == ids["email:changed.address@newmail.org"] == person


def test_overrides_split_and_merge_in_the_identity_step(built_warehouse: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(built_warehouse, warehouse)
    with connect(warehouse) as wh:
        rows = wh.execute(
            "select c.contact_id, 'email:' || c.email_canonical, i.person_id from main.stg_crm__contacts c "
            "join main.int_identity__identifiers i on i.identifier_key = 'crm_id:' || c.contact_id "
            "where c.email_canonical is not null and i.person_id is not null order by 1 limit 2"
        ).fetchall()
        (crm1, email1, person1), (crm2, _, person2) = rows
        resolve_person_map(
            wh,
            overrides=[
                Override("never_merge", f"crm_id:{crm1}", email1, "two people"),
                Override("merge", f"crm_id:{crm1}", f"crm_id:{crm2}", "one person"),
            ],
        )
        ids = _ids(wh)
        changes = wh.fetch_polars("select * from outflow_identity.identity_changes")
    assert ids[f"crm_id:{crm1}"] != ids[email1]
    assert ids[f"crm_id:{crm1}"] == ids[f"crm_id:{crm2}"]
    reasons = set(changes["reason"])
    assert {"override: never merge", "override: forced merge"} & reasons
    assert {person1, person2} & set(changes["from_person_id"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("action,identifier_a\nmerge,email:a@x.com\n", r"row 1 \(the header\), column identifier_b: missing"),
        ("action,identifier_a,identifier_b\nmerge,email:a@x.com,crm_id:1\nsplit,a,b\n",
         r"row 3, column action: 'split' is not merge or never_merge"),
        ("action,identifier_a,identifier_b,reason\nnever_merge,email:not-an-email,crm_id:1,x\n",
         r"row 2, column identifier_a: 'email:not-an-email' is not an identifier key"),
        ("action,identifier_a,identifier_b\nmerge,crm_id:1,fax:123\n", r"row 2, column identifier_b: 'fax:123'"),
        ("action,identifier_a,identifier_b\nmerge,email:A@X.com,email:a@x.com\n",
         r"row 2, column identifier_b: the same identifier as identifier_a"),
    ],
)  # fmt: skip
def test_malformed_override_rows_name_file_row_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "identity_overrides.csv"
    path.write_text(text)
    with pytest.raises(OutflowError, match=rf"^{path}: {message}") as err:
        load_overrides(path)
    assert "\n" not in str(err.value)


def test_build_checks_the_overrides_before_dbt_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "w.duckdb"
    generate_and_load(300, 3, warehouse=warehouse, data_dir=tmp_path / "data")
    project = tmp_path / "dbt_project"
    (project / "seeds").mkdir(parents=True)
    (project / "seeds" / "identity_overrides.csv").write_text("action,identifier_a,identifier_b\nmerge,,crm_id:1\n")
    monkeypatch.setattr(settings, "DBT_PROJECT_DIR", project)
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(warehouse))
    result = CliRunner().invoke(app, ["build"])
    assert isinstance(result.exception, OutflowError)
    assert str(result.exception).startswith(f"{project}/seeds/identity_overrides.csv: row 2, column identifier_a:")
    with connect(warehouse) as wh:
        assert not wh.table_exists("main", "int_identity__nodes")  # stopped before dbt ran
    shipped = load_overrides(Path(__file__).parents[2] / "dbt_project" / "seeds" / "identity_overrides.csv")
    assert shipped == []
