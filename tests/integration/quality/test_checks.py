"""Broken data goes through the real GX suites and the matching check fails (clean data passes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_quality.config import QualityConfig, Severity, load_config
from data_quality.dbt_rules import dbt_rules
from data_quality.errors import QualityError
from data_quality.gate import preflight
from data_quality.runner import apply_policy, run_checks
from data_quality.suites import activation_suite, raw_suite
from outflow.warehouse import Warehouse
from tests.integration.quality.fixtures import AS_OF


def _by_id(run):
    return {r.check_id: r for r in run.results}


def test_clean_warehouse_passes_every_blocking_check(con: Warehouse) -> None:
    run = run_checks(con, None, now=AS_OF)
    assert run.ok, [r.summary() for r in run.blocking_failures]
    assert not run.warnings, [r.summary() for r in run.warnings]
    statuses = {r.status for r in run.results}
    assert statuses <= {"passed", "skipped"}
    assets = set(run.assets)
    assert {"raw.orders", "dim_profiles", "sync_email_newsletter", "sync_ads_lookalike"} <= assets
    # results are kept in the warehouse and a report page is written
    n = con.execute("select count(*) from outflow_quality.check_results where run_id = ?", [run.run_id]).fetchone()
    assert n[0] == len(run.results)
    assert run.report_path is not None and run.report_path.is_file()
    assert (run.report_path.parent / "latest.html").is_file()


def test_null_key_in_activation_model_fails_blocking_and_samples_the_row(
    con: Warehouse,
) -> None:
    con.execute("update main.sync_email_newsletter set person_id = null where email = 'person3@example.com'")
    run = run_checks(con, "sync_email_newsletter", now=AS_OF)
    res = _by_id(run)["sync_email_newsletter:key_not_null"]
    assert res.status == "failed" and res.severity == Severity.BLOCKING
    assert res.failed_count == 1 and res.element_count == 40
    assert res.sample and res.sample[0]["email"] == "person3@example.com"
    assert not run.ok
    rows = con.execute(
        "select row_json from outflow_quality.failed_rows where run_id = ? and check_name = 'key_not_null'",
        [run.run_id],
    ).fetchall()
    assert len(rows) == 1 and json.loads(rows[0][0])["email"] == "person3@example.com"
    assert "key_not_null" in run.report_path.read_text()


def test_duplicated_id_fails_unique(con: Warehouse) -> None:
    con.execute(
        "insert into main.sync_email_newsletter select * from main.sync_email_newsletter where person_id = 'p7'"
    )
    failures = preflight(con, "sync_email_newsletter", now=AS_OF)
    assert failures == ["sync_email_newsletter:key_unique failed: 2 of 41 rows (the key person_id is unique)"]


def test_raw_keys_are_left_to_the_dbt_source_tests(con: Warehouse) -> None:
    """The raw keys are tested by dbt (source tests in dbt_project/): GX does not repeat them."""
    con.execute("update raw.orders set order_id = null where order_id = 'o3'")
    con.execute("insert into raw.web_events select * from raw.web_events where event_id = 'w7'")
    run = run_checks(con, ["raw.orders", "raw.web_events"], now=AS_OF, report=False)
    deferred = {s.check_id for s in run.deferred_to_dbt}
    assert {"raw.orders:order_id_not_null", "raw.web_events:event_id_unique"} <= deferred
    assert not deferred & {r.check_id for r in run.results}


def test_raw_accepted_values_future_timestamps_freshness_and_schema(con: Warehouse) -> None:
    con.execute("update raw.consent_events set status = 'maybe' where event_id = 'ce1-email'")
    con.execute("update raw.email_events set occurred_at = timestamp '2030-01-01' where event_id = 'e1'")
    con.execute("update raw.orders set ordered_at = ordered_at - interval '30 day'")
    con.execute("alter table raw.erasure_requests drop column requested_at")
    run = run_checks(con, "raw", now=AS_OF)
    res = _by_id(run)
    assert res["raw.consent_events:status_accepted_values"].status == "failed"
    assert res["raw.consent_events:status_accepted_values"].severity == Severity.BLOCKING
    assert res["raw.email_events:occurred_at_not_in_future"].status == "failed"
    assert res["raw.email_events:occurred_at_not_in_future"].severity == Severity.WARN
    assert res["raw.orders:freshness"].status == "failed"
    schema = res["raw.erasure_requests:schema"]
    assert schema.status == "failed" and "requested_at" in schema.message
    assert res["raw.erasure_requests:requested_at_not_null"].status == "skipped"


def test_invalid_email_in_activation_model_blocks_the_sync(con: Warehouse) -> None:
    con.execute("update main.sync_email_newsletter set email = 'not-an-email' where person_id = 'p5'")
    failures = preflight(con, "sync_email_newsletter", now=AS_OF)
    assert len(failures) == 1 and failures[0].startswith("sync_email_newsletter:email_valid failed: 1 of 40")
    assert "not-an-email" not in failures[0]  # no personal data in the message
    sample = con.execute("select row_json from outflow_quality.failed_rows where check_name = 'email_valid'").fetchone()
    assert json.loads(sample[0])["email"] == "not-an-email"


def test_missing_phone_for_sms_and_bad_phone(con: Warehouse) -> None:
    con.execute("create table main.sync_sms_promo as select person_id, phone from main.dim_profiles")
    con.execute("update main.sync_sms_promo set phone = '555-1234' where person_id = 'p1'")
    con.execute("update main.sync_sms_promo set phone = null where person_id = 'p2'")
    res = _by_id(run_checks(con, "sync_sms_promo", now=AS_OF, report=False))
    assert res["sync_sms_promo:phone_valid"].failed_count == 1
    assert res["sync_sms_promo:phone_present"].failed_count == 1
    # no sms consent in the ledger for anybody: every row violates consent
    assert res["sync_sms_promo:consent"].failed_count == 40


def test_consent_violation_blocks_the_sync(con: Warehouse) -> None:
    assert preflight(con, "sync_email_newsletter", now=AS_OF) == []
    con.execute(
        "update main.dim_consent set status = 'revoked' "
        "where identifier_value = 'person9@example.com' and channel = 'email'"
    )
    failures = preflight(con, "sync_email_newsletter", now=AS_OF)
    assert failures == [
        "sync_email_newsletter:consent failed: 1 of 40 rows (every person has consent for the channel "
        "and purpose (marketing) in main.dim_consent)"
    ]
    # consent for another channel does not count
    con.execute("update main.dim_consent set channel = 'sms' where channel = 'ads'")
    res = _by_id(run_checks(con, "sync_ads_lookalike", now=AS_OF, report=False))
    assert res["sync_ads_lookalike:consent"].status == "failed"


def test_erased_person_blocks_the_sync(con: Warehouse) -> None:
    con.execute(
        "insert into main.stg_privacy__erasure_requests values ('r2', 'phone', '+15125551004', timestamp '2026-05-30')"
    )
    failures = preflight(con, "sync_email_newsletter", now=AS_OF)  # model has no phone: matched through identity
    assert len(failures) == 1 and "no_erased_person failed: 1 of 40" in failures[0]


def test_consent_and_erasure_tables_are_parameters_and_skip_when_absent(
    con: Warehouse,
) -> None:
    cfg = QualityConfig(consent_table="main.no_such_ledger", erasure_table=None)
    res = _by_id(run_checks(con, "sync_email_newsletter", config=cfg, now=AS_OF, report=False))
    assert res["sync_email_newsletter:consent"].status == "skipped"
    assert "not applicable" in res["sync_email_newsletter:consent"].message
    assert res["sync_email_newsletter:no_erased_person"].status == "skipped"
    # a differently named ledger, keyed by person
    con.execute(
        "create table main.consent_by_person as select 'p' || i as person_id, 'email' as channel, "
        "'marketing' as purpose, true as is_granted from generate_series(0, 38) t(i)"
    )
    cfg = QualityConfig(consent_table="main.consent_by_person")
    res = _by_id(run_checks(con, "sync_email_newsletter", config=cfg, now=AS_OF, report=False))
    assert res["sync_email_newsletter:consent"].failed_count == 1
    assert res["sync_email_newsletter:consent"].sample[0]["person_id"] == "p39"


def test_half_the_rows_gone_fails_the_row_count_band(con: Warehouse) -> None:
    first = _by_id(run_checks(con, "sync_email_newsletter", now=AS_OF, report=False))
    assert first["sync_email_newsletter:row_count_change"].status == "passed"  # records the baseline
    assert con.execute("select row_count from outflow_quality.row_counts").fetchall() == [(40,)]
    con.execute(
        "delete from main.sync_email_newsletter where person_id in (select 'p' || i from generate_series(0, 19) t(i))"
    )
    failures = preflight(con, "sync_email_newsletter", now=AS_OF)
    assert len(failures) == 1 and "row_count_change failed" in failures[0]
    # a failed run does not move the baseline; an accepted change does
    assert con.execute("select max(row_count) from outflow_quality.row_counts").fetchone() == (40,)
    assert preflight(con, "sync_email_newsletter", now=AS_OF) != []
    from data_quality.store import rebaseline

    assert rebaseline(con, "sync_email_newsletter") == 20
    assert preflight(con, "sync_email_newsletter", now=AS_OF) == []


def test_over_merged_cluster_fails_profile_check(con: Warehouse) -> None:
    con.execute(
        "insert into main.int_identity__identifiers "
        "select 'cookie', 'ck-x' || i, 'p1', false, null from generate_series(0, 59) t(i)"
    )
    con.execute("update main.dim_profiles set first_name = null where person_id = 'p2'")
    res = _by_id(run_checks(con, "profiles", now=AS_OF, report=False))
    big = res["dim_profiles:largest_cluster"]
    assert big.status == "failed" and big.severity == Severity.BLOCKING and big.observed == 63
    assert big.sample[0] == {"person_id": "p1", "identifier_count": 63}
    assert res["dim_profiles:survivorship_first_name_filled"].failed_count == 1
    assert res["dim_profiles:survivorship_first_name_filled"].severity == Severity.WARN


def test_severity_override_and_disable(con: Warehouse) -> None:
    con.execute("update main.sync_email_newsletter set email = 'bad' where person_id = 'p1'")
    cfg = QualityConfig(severity={"sync_email_newsletter:email_valid": Severity.WARN})
    assert preflight(con, "sync_email_newsletter", config=cfg, now=AS_OF) == []
    cfg = QualityConfig(disabled=["email_valid"])
    run = run_checks(con, "sync_email_newsletter", config=cfg, now=AS_OF, report=False)
    assert _by_id(run)["sync_email_newsletter:email_valid"].status == "skipped"


def test_a_rule_dbt_tests_is_not_repeated_in_gx(con: Warehouse, tmp_path: Path) -> None:
    project = tmp_path / "dbt"
    (project / "models" / "staging").mkdir(parents=True)
    (project / "models" / "staging" / "_sources.yml").write_text(
        "sources:\n  - name: raw\n    tables:\n      - name: orders\n        columns:\n"
        "          - name: order_id\n            data_tests: [not_null, unique]\n"
        "          - name: status\n            data_tests:\n              - accepted_values:\n"
        "                  arguments: {values: [completed]}\n"
    )
    (project / "models" / "activation.yml").write_text(
        "models:\n  - name: sync_email_newsletter\n    columns:\n      - name: email\n"
        "        constraints: [{type: not_null}]\n"
    )
    covered = dbt_rules(project)
    assert ("raw.orders", "order_id", "unique") in covered
    assert ("main.sync_email_newsletter", "email", "not_null") in covered
    # the project's own: fct_events.event_id's outflow_unique_written is a unique test
    assert ("main.fct_events", "event_id", "unique") in dbt_rules()
    cfg = QualityConfig()
    specs = raw_suite(con, "orders", cfg, AS_OF) + activation_suite(con, "sync_email_newsletter", cfg, None)
    kept, deferred = apply_policy(specs, cfg, covered)
    assert {s.check_id for s in deferred} == {
        "raw.orders:order_id_not_null",
        "raw.orders:order_id_unique",
        "raw.orders:status_accepted_values",
        "sync_email_newsletter:email_present",
    }
    assert not {s.check_id for s in kept} & {s.check_id for s in deferred}


def test_config_errors_name_the_file_and_key(tmp_path: Path) -> None:
    f = tmp_path / "quality.yml"
    f.write_text("row_count_band: lots\n")
    with pytest.raises(QualityError, match=r"quality.yml: key 'row_count_band'"):
        load_config(f)
    f.write_text("row_count_bnad: 0.2\n")
    with pytest.raises(QualityError, match=r"key 'row_count_bnad'"):
        load_config(f)
    f.write_text("row_count_band: 0.1\nchannels: {sync_x: sms}\n")
    assert load_config(f).row_count_band == 0.1


def test_unknown_asset_is_one_clear_error(con: Warehouse) -> None:
    with pytest.raises(QualityError, match="did you mean 'sync_email_newsletter'"):
        run_checks(con, "sync_email_newsleter", now=AS_OF)


def test_trigger_model_consent_per_row_channel_and_purpose(con: Warehouse) -> None:
    """Trigger models carry channel and purpose per row; transactional rows are consent-exempt."""
    con.execute(
        "create table main.trg_welcome as select 'k' || i as idempotency_key, 'p' || i as person_id, "
        "'email' as channel, case when i < 5 then 'transactional' else 'marketing' end as purpose, "
        "'person' || i || '@example.com' as email from generate_series(0, 9) t(i)"
    )
    assert preflight(con, "trg_welcome", now=AS_OF) == []
    # consent gone for a transactional row (exempt) and for a marketing row (violation)
    con.execute(
        "delete from main.dim_consent where channel = 'email' "
        "and identifier_value in ('person1@example.com', 'person7@example.com')"
    )
    run = run_checks(con, "trg_welcome", now=AS_OF, report=False)
    res = _by_id(run)
    assert res["trg_welcome:consent"].failed_count == 1
    assert res["trg_welcome:consent"].sample[0]["idempotency_key"] == "k7"
    assert res["trg_welcome:row_count_change"].status == "skipped"
    # the key of a trigger model is its idempotency key: one person may fire twice
    con.execute("insert into main.trg_welcome values ('k10', 'p2', 'email', 'transactional', 'person2@example.com')")
    assert _by_id(run_checks(con, "trg_welcome", now=AS_OF, report=False))["trg_welcome:key_unique"].status == "passed"


def test_channel_and_purpose_come_from_dbt_meta(tmp_path: Path) -> None:
    from data_quality.dbt_rules import model_meta

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.yml").write_text(
        "models:\n  - name: sync_vips\n    meta: {channel: email, purpose: transactional}\n"
        "  - name: sync_other\n    config: {meta: {channel: sms}}\n"
    )
    meta = model_meta(tmp_path)
    assert meta["sync_vips"] == {"channel": "email", "purpose": "transactional"}
    assert meta["sync_other"]["channel"] == "sms"
