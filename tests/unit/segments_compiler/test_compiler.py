"""The segment compiler: every operator, validation errors, injection attempts, dialects, cycles."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from outflow.segments.codegen import compile_project, stale_files
from outflow.segments.compiler import DIALECTS, render_direct
from outflow.segments.errors import SegmentError
from outflow.settings import DBT_PROJECT_DIR

from .conftest import NOW, seg


def members(project_dir: Path, con, name: str) -> set[str]:
    compiled = compile_project(project_dir)
    # Build dependencies first, as dbt would.
    for dep in compiled[name].depends_on:
        members(project_dir, con, dep)
        con.execute(f"create or replace table main.seg_{dep} as " + render_direct(compiled[dep].select, now=NOW))
    return {r[0] for r in con.execute(render_direct(compiled[name].select, now=NOW)).fetchall()}


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"field": "country", "op": "=", "value": "DE"}, {"p3", "p4"}),
        ({"field": "country", "op": "!=", "value": "DE"}, {"p1", "p2"}),
        ({"field": "employee_count", "op": ">", "value": 120}, {"p4"}),
        ({"field": "employee_count", "op": ">=", "value": 120}, {"p1", "p4"}),
        ({"field": "employee_count", "op": "<", "value": 120}, {"p2"}),
        ({"field": "employee_count", "op": "<=", "value": 120}, {"p1", "p2"}),
        ({"field": "lifecycle_stage", "op": "in", "value": ["lead", "visitor"]}, {"p1", "p3", "p5"}),
        ({"field": "lifecycle_stage", "op": "not in", "value": ["lead", "visitor"]}, {"p2", "p4"}),
        ({"field": "total_revenue", "op": "between", "value": [10, 900]}, {"p2", "p4"}),
        ({"field": "email", "op": "contains", "value": "example"}, {"p1", "p4"}),
        ({"field": "email", "op": "not contains", "value": "example"}, {"p2", "p3"}),
        ({"field": "job_title", "op": "starts with", "value": "VP"}, {"p4"}),
        ({"field": "email", "op": "ends with", "value": ".io"}, {"p2"}),
        ({"field": "email", "op": "is empty"}, {"p3", "p5"}),
        ({"field": "email", "op": "is not empty"}, {"p1", "p2", "p4"}),
        ({"field": "is_known", "op": "=", "value": False}, {"p3", "p5"}),
        ({"field": "last_seen_at", "within_last": "3 days"}, {"p1", "p4", "p5"}),
        ({"field": "last_order_at", "before": "90 days ago"}, {"p2"}),
        ({"field": "first_seen_at", "after": "30 days ago"}, {"p5"}),
        ({"field": "first_seen_at", "before": "2025-01-01"}, {"p4"}),
        ({"field": "birth_date", "op": "<", "value": "1980-01-01"}, {"p4"}),
        ({"field": "dim_profile_traits.order_count", "op": ">=", "value": 1}, {"p2", "p4"}),
        (
            {
                "any": [
                    {"field": "country", "op": "=", "value": "FR"},
                    {"field": "order_count", "op": ">", "value": 3},
                ]
            },
            {"p1", "p2"},
        ),
        ({"not": {"field": "country", "op": "in", "value": ["FR", "US"]}}, {"p3", "p4"}),
        ({"expr": "lower(first_name) = 'ann' or employee_count * 2 > 9000"}, {"p1", "p4"}),
    ],
)
def test_every_operator_selects_the_right_people(project, fixture_db, cond, expected) -> None:
    p = project(seg("s", [cond]))
    assert members(p, fixture_db, "s") == expected


def test_event_window_counts_and_absence(project, fixture_db) -> None:
    pricing = {
        "event": {
            "where": [
                {"field": "event_type", "op": "=", "value": "page_view"},
                {"field": "page_path", "op": "starts with", "value": "/pricing"},
            ],
            "within_last": "14 days",
            "at_least": 3,
        }
    }
    no_order = {"no_event": {"where": [{"field": "source", "op": "=", "value": "order"}], "within_last": "90 days"}}
    p = project(
        seg("pricing", [pricing]),
        seg("no_order", [no_order]),
        seg(
            "exactly_one",
            [
                {
                    "event": {
                        "where": [{"field": "page_path", "op": "=", "value": "/pricing"}],
                        "at_least": 1,
                        "at_most": 1,
                    }
                }
            ],
        ),
    )
    # p1's fourth visit is after 'now' and is ignored; p2 has only one visit inside the window.
    assert members(p, fixture_db, "pricing") == {"p1"}
    assert members(p, fixture_db, "no_order") == {"p1", "p2", "p3", "p5"}
    assert members(p, fixture_db, "exactly_one") == set()  # p1 has 2 exact /pricing views, p2 has 2 in all


def test_in_and_not_in_other_segments(project, fixture_db) -> None:
    p = project(
        seg("customers", [{"field": "order_count", "op": ">=", "value": 1}]),
        seg("german", [{"field": "country", "op": "=", "value": "DE"}]),
        seg("german_prospects", [{"in_segment": "german"}, {"not_in_segment": "customers"}]),
    )
    assert members(p, fixture_db, "german_prospects") == {"p3"}


def test_unknown_field_names_file_segment_and_nearest(project) -> None:
    p = project(seg("typo", [{"field": "pricing_view_30d", "op": ">=", "value": 3}]))
    with pytest.raises(SegmentError) as err:
        compile_project(p)
    msg = str(err.value)
    assert "typo.yml" in msg and "segment 'typo'" in msg and "'pricing_views_30d'" in msg


def test_unknown_event_field_and_unknown_segment(project) -> None:
    p = project(seg("a", [{"event": {"where": [{"field": "page", "op": "=", "value": "/x"}]}}]))
    with pytest.raises(SegmentError, match="unknown event field 'page'.*'page_path'"):
        compile_project(p)
    p = project(
        seg("a", [{"in_segment": "custmers"}]),
        seg("customers", [{"field": "order_count", "op": ">", "value": 0}]),
    )
    with pytest.raises(SegmentError, match="unknown segment 'custmers'.*nearest segment: 'customers'"):
        compile_project(p)


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ({"field": "order_count", "op": ">", "value": "lots"}, "type mismatch.*number.*string"),
        ({"field": "country", "op": ">", "value": "DE"}, "type mismatch.*operator '>'"),
        ({"field": "email", "op": "contains", "value": 3}, "type mismatch"),
        ({"field": "employee_count", "op": "contains", "value": "1"}, "type mismatch"),
        ({"field": "country", "within_last": "3 days"}, "type mismatch.*within_last"),
        ({"field": "is_known", "op": ">", "value": True}, "type mismatch"),
        ({"field": "country", "op": "in", "value": "DE"}, "non-empty list"),
        ({"field": "total_revenue", "op": "between", "value": [1]}, "two values"),
        ({"field": "last_seen_at", "within_last": "soon"}, "not a duration"),
        ({"field": "country", "op": "like", "value": "D%"}, "unknown operator"),
        ({"field": "country", "op": "=", "value": "DE", "extra": 1}, "extra"),
        ({"field": "country"}, "needs 'op'"),
        ({"nonsense": 1}, "exactly one of"),
    ],
)
def test_bad_definitions_are_refused_with_one_clear_line(project, cond, message) -> None:
    p = project(seg("bad", [cond]))
    with pytest.raises(SegmentError, match=message) as err:
        compile_project(p)
    assert "bad.yml" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "cond",
    [
        {"field": "country", "op": "=", "value": "DE'; drop table dim_profiles; --"},
        {"field": "country", "op": "in", "value": ["DE", "x; DROP TABLE raw.orders"]},
        {"field": "country; drop table dim_profiles", "op": "=", "value": "DE"},
        {"field": "country", "op": "=", "value": "{{ run_query('drop table x') }}"},
        {"expr": "country = 'DE'; drop table dim_profiles"},
        {"expr": "person_id in (select person_id from raw.crm_contacts)"},
        {"expr": "exists (select 1)"},
        {"expr": "read_csv('/etc/passwd') is not null"},
        {"expr": "country"},
        {"expr": "getenv('HOME') = 'x'"},
        {"expr": "secret_column = 1"},
        {"expr": "raw.crm_contacts.email = 'x'"},
    ],
)
def test_injection_attempts_are_refused_never_run(project, cond) -> None:
    p = project(seg("evil", [cond]))
    with pytest.raises(SegmentError) as err:
        compile_project(p)
    assert "evil" in str(err.value)


def test_quotes_in_values_stay_literals(project, fixture_db) -> None:
    p = project(seg("q", [{"field": "last_name", "op": "=", "value": "O'Brien\" or 1=1 --"}]))
    sql = render_direct(compile_project(p)["q"].select, now=NOW)
    assert members(p, fixture_db, "q") == set()
    tree = sqlglot.parse_one(sql, read="duckdb")
    literals = [lit.this for lit in tree.find_all(sqlglot.exp.Literal) if lit.is_string]
    assert "O'Brien\" or 1=1 --" in literals


def test_cycles_between_segments_are_refused(project) -> None:
    p = project(seg("a", [{"in_segment": "b"}]), seg("b", [{"not_in_segment": "c"}]), seg("c", [{"in_segment": "a"}]))
    with pytest.raises(SegmentError, match=r"cycle between segments: a -> b -> c -> a"):
        compile_project(p)
    p = project(
        seg("a", [{"in_segment": "a"}]),
        seg("b", [{"field": "country", "op": "=", "value": "FR"}]),
        seg("c", [{"field": "country", "op": "=", "value": "FR"}]),
    )
    with pytest.raises(SegmentError, match="a -> a"):
        compile_project(p)


def test_new_score_columns_are_picked_up_from_the_project(project) -> None:
    p = project(seg("hot", [{"field": "lead_score", "op": ">=", "value": 70}]))
    with pytest.raises(SegmentError, match="unknown field 'lead_score'"):
        compile_project(p)
    (p / "models").mkdir()
    (p / "models" / "scores.yml").write_text(
        "version: 2\nmodels:\n  - name: fct_lead_scores\n    columns:\n"
        "      - {name: person_id, data_type: varchar}\n      - {name: lead_score, data_type: double}\n"
    )
    compiled = compile_project(p)
    assert "s.lead_score >= 70" in compiled["hot"].sql(pretty=False)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_shipped_segment_transpiles(dialect) -> None:
    compiled = compile_project(DBT_PROJECT_DIR)
    assert {"hot_leads", "cart_abandoners", "lapsed_customers", "vip_rfm"} <= set(compiled)
    for c in compiled.values():
        sql = render_direct(c.select, dialect=dialect, schema="analytics")
        parsed = sqlglot.parse_one(sql, read=dialect)  # round-trips through the dialect's own parser
        assert parsed.find(sqlglot.exp.Where) is not None
        assert "analytics." in sql


def test_committed_generated_models_are_fresh() -> None:
    stale = stale_files(DBT_PROJECT_DIR)
    assert stale == [], "run `outflow segment compile` and commit:\n" + "\n".join(stale)


def test_jinja_in_description_is_refused(project) -> None:
    s = seg("j", [{"field": "country", "op": "=", "value": "FR"}])
    s["description"] = "{{ run_query('drop table main.dim_profiles') }}"
    with pytest.raises(SegmentError, match="Jinja"):
        compile_project(project(s))


def test_now_in_an_expression_is_the_models_now(project) -> None:
    p = project(seg("n", [{"expr": "last_seen_at >= current_timestamp - interval 3 day"}]))
    sql = compile_project(p)["n"].sql(pretty=False)
    assert "__outflow_now__" in sql and "CURRENT_TIMESTAMP" not in sql


def test_audience_errors_name_the_file(project, tmp_path) -> None:
    from outflow.segments.audiences import load_audiences

    d = tmp_path / "aud"
    d.mkdir()
    (d / "a.yml").write_text("audiences:\n  - {name: x, segment: hot_lead, channel: email}\n")
    with pytest.raises(SegmentError, match=r"a.yml: audiences\[0\] 'x': unknown segment 'hot_lead'.*'hot_leads'"):
        load_audiences(d, {"hot_leads", "customers"})
    (d / "a.yml").write_text("audiences:\n  - {name: x, segment: hot_leads, channel: fax}\n")
    with pytest.raises(SegmentError, match=r"a.yml: audiences.0.channel"):
        load_audiences(d, {"hot_leads"})
    (d / "a.yml").write_text(
        "audiences:\n  - {name: x, segment: hot_leads, channel: email, priority_group: g, priority: 1}\n"
        "  - {name: y, segment: hot_leads, channel: email, priority_group: g, priority: 1}\n"
    )
    with pytest.raises(SegmentError, match="priorities must differ"):
        load_audiences(d, {"hot_leads"})


def test_cli_validate_and_compile_show(tmp_path) -> None:
    from typer.testing import CliRunner

    from outflow.cli import app

    ok = CliRunner().invoke(app, ["segment", "validate"])
    assert ok.exit_code == 0, ok.output
    listed = CliRunner().invoke(app, ["segment", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    for name in ("hot_leads", "cart_abandoners", "lapsed_customers", "vip_rfm"):
        assert name in listed.output
    # A score condition on the ML score table: the CLI names the real table, ml_lead_scores.
    (tmp_path / "ml" / "segments").mkdir(parents=True)
    (tmp_path / "ml" / "segments" / "ml.yml").write_text(
        "name: ml\ndescription: d\nowner: o\nconditions: [{field: ml_lead_scores.decile, op: '<=', value: 2}]\n"
    )
    ml = CliRunner().invoke(app, ["segment", "compile", "--project-dir", str(tmp_path / "ml"), "--show", "ml"])
    assert ml.exit_code == 0 and "main.ml_lead_scores" in ml.output, ml.output
    shown = CliRunner().invoke(app, ["segment", "compile", "--show", "vip_rfm", "--dialect", "bigquery"])
    assert shown.exit_code == 0 and "r.r_score >= 4" in shown.output
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "bad.yml").write_text(
        "name: bad\ndescription: d\nowner: o\nconditions: [{field: countri, op: '=', value: FR}]\n"
    )
    bad = CliRunner().invoke(app, ["segment", "validate", "--project-dir", str(tmp_path)])
    assert bad.exit_code == 1
    assert "bad.yml" in bad.output and "'country'" in bad.output and "Traceback" not in bad.output


def test_ml_lead_score_conditions_compile_and_run(project, fixture_db) -> None:
    """The predictive score table is ml_lead_scores (written by models_ml, a dbt source)."""
    p = project(
        seg("likely", [{"field": "score", "op": ">=", "value": 0.6}]),
        seg("top_decile", [{"field": "ml_lead_scores.decile", "op": "<=", "value": 1}]),
    )
    assert members(p, fixture_db, "likely") == {"p1", "p5"}
    assert members(p, fixture_db, "top_decile") == {"p1"}
    compiled = compile_project(p)
    assert "main.ml_lead_scores" in render_direct(compiled["likely"].select)
    for d in DIALECTS:
        sqlglot.parse_one(render_direct(compiled["likely"].select, dialect=d), read=d)
    # As a dbt model it reads the source and is built after the model that creates the table.
    from outflow.segments.codegen import segment_files

    text = segment_files(p, compiled)[p / "models" / "segments" / "seg_likely.sql"]
    assert "{{ source('ml', 'ml_lead_scores') }}" in text
    assert "-- depends_on: {{ ref('int_lead_scores__predictive') }}" in text
    with pytest.raises(SegmentError, match="type mismatch"):
        members(project(seg("bad", [{"field": "score", "op": ">=", "value": "high"}])), fixture_db, "bad")


def test_unknown_score_model_name_suggests_ml_lead_scores(project, fixture_db) -> None:
    p = project(seg("old", [{"field": "ml_scores.score", "op": ">=", "value": 0.5}]))
    with pytest.raises(SegmentError, match="nearest valid field: 'ml_lead_scores.score'"):
        compile_project(p)
