"""Audiences, triggers and the consent gate on the real dbt build of the demo, on each target (tests/demo_builds.py)."""

from __future__ import annotations

import hashlib

import pytest
from typer.testing import CliRunner

from outflow.cli import app
from outflow.segments import summary
from outflow.warehouse import Warehouse, connect

from .conftest import Rebuilt, members, sync_models, trigger_models


@pytest.fixture
def con(demo_built: str) -> Warehouse:
    # Read-write like the other test modules: DuckDB refuses mixed configurations within one process.
    c = connect(demo_built)
    yield c
    c.close()


def test_demo_segments_audiences_and_triggers_are_built_and_not_empty(con) -> None:
    sizes = dict(summary(con))
    for name in (
        "seg_hot_leads",
        "seg_cart_abandoners",
        "seg_lapsed_customers",
        "seg_vip_rfm",
        "sync_hot_leads_email",
        "sync_hot_leads_ads",
        "sync_lapsed_customers_email",
        "sync_vip_rfm_email",
        "trg_cart_abandoned",
        "trg_reengagement",
        "trg_lead_score_threshold",
    ):
        assert sizes.get(name, 0) > 0, f"{name} is empty or missing: {sizes}"


def test_nobody_without_consent_is_in_an_activation_model_for_that_channel(con) -> None:
    dropped_for_consent = 0
    for model, (channel, purpose, transactional) in sync_models(con).items():
        if transactional:
            continue
        bad = con.execute(
            f"""select count(*) from main.{model} m
            left join main.dim_consent k on k.person_id = m.person_id and k.channel = ? and k.purpose = ?
            where k.is_granted is not true""",
            [channel, purpose],
        ).fetchone()[0]
        assert bad == 0, f"{model}: {bad} members without {purpose} consent on {channel}"
        audience = model.removeprefix("sync_")
        dropped_for_consent += con.execute(
            """select count(*) from main.int_audience__candidates c
            left join main.dim_consent k on k.person_id = c.person_id and k.channel = c.channel
                and k.purpose = c.purpose
            where c.audience = ? and k.is_granted is not true""",
            [audience],
        ).fetchone()[0]
    assert dropped_for_consent > 0, "the demo data should contain segment members without consent"
    for model in trigger_models(con):
        bad = con.execute(
            f"""select count(*) from main.{model} m
            left join main.dim_consent k on k.person_id = m.person_id and k.channel = m.channel
                and k.purpose = m.purpose
            where m.purpose <> 'transactional' and k.is_granted is not true"""
        ).fetchone()[0]
        assert bad == 0, f"{model}: {bad} rows without consent"


def test_raw_unsubscribes_keep_people_out_of_marketing_email(con) -> None:
    """Independent of dim_consent: read the raw tables. Nobody in a marketing email audience has an
    unsubscribe or spam report on their current address later than their latest raw grant."""
    for model, (channel, _purpose, transactional) in sync_models(con).items():
        if transactional or channel != "email":
            continue
        leaked = con.execute(
            f"""
            with optout as (
                select email_canonical, max(occurred_at) as at from main.stg_email__events
                where event_type in ('unsubscribe', 'spam_report') group by 1
            ), grants as (
                select identifier_value, max(occurred_at) as at from main.stg_consent__events
                where identifier_type = 'email' and channel = 'email' and purpose = 'marketing'
                  and status = 'granted' group by 1
            )
            select count(*) from main.{model} m
            join main.dim_profiles p using (person_id)
            join optout o on o.email_canonical = p.email_canonical
            left join grants g on g.identifier_value = p.email_canonical
            where g.at is null or g.at <= o.at
            """
        ).fetchone()[0]
        assert leaked == 0, f"{model}: {leaked} members unsubscribed on their current address"


def test_erased_persons_are_in_no_activation_model(con) -> None:
    erased = members(con, "erased_persons")
    assert erased, "the demo data has erasure requests"
    for model in [*sync_models(con), *trigger_models(con)]:
        assert not (members(con, model) & erased), f"{model} contains erased persons"


def _bucket(text: str) -> int:
    """First 32 bits of md5(text) mod 10000, computed independently of the dbt macro."""
    return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) % 10000


def test_holdouts_never_leak_and_are_stable_hashes(con) -> None:
    rows = con.execute(
        "select h.audience, h.person_id, h.measurement_group, h.holdout_bucket, h.holdout_pct, h.control_bucket, "
        "h.control_pct, d.is_transactional from main.audience_holdouts h "
        "join main.audience_definitions d using (audience)"
    ).fetchall()
    groups = {g for _, _, g, *_ in rows}
    assert groups == {"holdout", "control"}, "demo audiences have both a holdout and a control group"
    by_audience: dict[str, set[str]] = {}
    for audience, person, group, bucket, pct, cbucket, cpct, transactional in rows:
        by_audience.setdefault(audience, set()).add(person)
        assert bucket == _bucket(f"{audience}:{person}")
        assert cbucket == _bucket(f"control:{person}")
        if group == "control":
            assert cbucket < cpct * 100 and not transactional
        else:
            assert bucket < pct * 100 and not cbucket < cpct * 100
    for audience, held in by_audience.items():
        assert not (members(con, f"sync_{audience}") & held), f"holdouts leaked into sync_{audience}"
    # The control group is one set of people across every marketing audience.
    control = {p: cb for _, p, g, _, _, cb, _, _ in rows if g == "control"}
    assign = con.execute(
        "select audience, person_id, holdout_bucket, control_bucket, control_pct, measurement_group, "
        "is_transactional from main.int_audience__assignments"
    ).fetchall()
    for audience, person, _b, cb, cpct, group, transactional in assign:
        if not transactional:
            assert (group == "control") == (cb < cpct * 100), f"{person} in {audience}: wrong control assignment"
            if person in control:
                assert group == "control", f"{person} is in the control group but {group} in {audience}"
        if group == "treatment":
            assert person in members(con, f"sync_{audience}")
    # Stable when percentages change: the held-out set at p% is exactly the buckets below p*100, so raising
    # the percentage only adds people.
    for audience in by_audience:
        buckets = {p: b for a, p, b, *_ in assign if a == audience}
        at = {pct: {p for p, b in buckets.items() if b < pct * 100} for pct in (5, 10, 20, 50)}
        assert at[5] <= at[10] <= at[20] <= at[50]


def test_priority_groups_put_each_person_in_one_audience(con) -> None:
    groups = con.execute(
        "select priority_group, array_agg(audience order by priority) from main.audience_definitions "
        "group by 1 having count(*) > 1"
    ).fetchall()
    assert groups, "the demo defines a priority group"
    contested = 0
    for group, audiences in groups:
        seen: dict[str, str] = {}
        for a in audiences:
            for p in members(con, f"sync_{a}") | members(con, "audience_holdouts") & {
                r[0]
                for r in con.execute("select person_id from main.audience_holdouts where audience = ?", [a]).fetchall()
            }:
                assert p not in seen, f"{p} is in {seen[p]} and {a} (group {group})"
                seen[p] = a
        # Everyone eligible for several audiences of the group lands in the highest one.
        rows = con.execute(
            """select person_id, array_agg(audience order by priority) from main.int_audience__eligible
            where priority_group = ? group by 1 having count(*) > 1""",
            [group],
        ).fetchall()
        for person, eligible in rows:
            contested += 1
            winner = con.execute(
                "select audience from main.int_audience__assignments where person_id = ? and priority_group = ?",
                [person, group],
            ).fetchall()
            assert winner == [(eligible[0],)]
    assert contested > 0, "the demo data should have people eligible for several audiences of a group"


def test_trigger_keys_are_unique_and_quiet_hours_respected(con) -> None:
    (now,) = con.execute("select cast(max(as_of) as timestamp) from raw.dataset_info").fetchone()
    deferred = 0
    for model in trigger_models(con):
        n, distinct = con.execute(f"select count(*), count(distinct idempotency_key) from main.{model}").fetchone()
        assert n == distinct
        inside = con.execute(
            f"""select count(*) from main.{model} where time_zone is not null and (
            extract(hour from (send_after at time zone 'UTC') at time zone time_zone) >= 21
            or extract(hour from (send_after at time zone 'UTC') at time zone time_zone) < 8)"""
        ).fetchone()[0]
        assert inside == 0, f"{model} schedules sends inside quiet hours"
        deferred += con.execute(f"select count(*) from main.{model} where send_after > ?", [now]).fetchone()[0]
    assert deferred > 0, "at the demo's as-of it is night in Europe: some sends must be deferred"


def test_frequency_cap_one_trigger_per_person_and_channel(con) -> None:
    window = """triggered_at > (select max(as_of) from raw.dataset_info) - interval '7 day'"""
    candidates = " union all ".join(
        f"select person_id, channel, triggered_at from main.int_trigger__{t}"
        for t in ("cart_abandoned", "lead_score_threshold", "trial_ending", "reengagement")
    )
    contested = con.execute(
        f"select count(*) from (select person_id, channel from ({candidates}) c where {window} "
        "group by 1, 2 having count(*) > 1) contested"
    ).fetchone()[0]
    assert contested > 0, "the demo data has people qualifying for several triggers in a week"
    over = con.execute(
        f"select count(*) from (select person_id, channel from main.int_triggers__gated where {window} "
        "group by 1, 2 having count(*) > 1) over_cap"
    ).fetchone()[0]
    assert over == 0, "frequency cap: more than one trigger per person and channel in 7 days"


def test_erasure_revocation_and_exclusion_take_effect_on_rebuild(rebuilt: Rebuilt) -> None:
    con = connect(rebuilt.after)
    try:
        assert rebuilt.erased in members(con, "erased_persons")
        assert rebuilt.excluded in members(con, "excluded_persons")
        for model, (channel, _purpose, transactional) in sync_models(con).items():
            m = members(con, model)
            assert rebuilt.erased not in m, f"erased person still in {model}"
            assert rebuilt.excluded not in m, f"excluded person still in {model}"
            if channel == "email" and not transactional:
                assert rebuilt.revoked not in m, f"revoked person still in {model}"
        # The revocation covers marketing only: the transactional audience still reaches them.
        assert rebuilt.revoked in members(con, "sync_customers_service_email")
        for model in trigger_models(con):
            m = members(con, model)
            assert not ({rebuilt.erased, rebuilt.excluded} & m)
    finally:
        con.close()


def test_trigger_idempotency_keys_are_stable_across_rebuilds(rebuilt: Rebuilt) -> None:
    b = connect(rebuilt.before)
    a = connect(rebuilt.after)
    try:
        changed = {rebuilt.erased, rebuilt.revoked, rebuilt.excluded}
        total = 0
        for model in trigger_models(b):
            keys_b = {
                r
                for r in b.execute(f"select person_id, idempotency_key from main.{model}").fetchall()
                if r[0] not in changed
            }
            keys_a = {
                r
                for r in a.execute(f"select person_id, idempotency_key from main.{model}").fetchall()
                if r[0] not in changed
            }
            assert keys_a == keys_b, f"{model}: keys changed on rebuild"
            total += len(keys_a)
        assert total > 0
    finally:
        a.close()
        b.close()


def test_preview_command_against_the_warehouse(demo_built: str) -> None:
    result = CliRunner().invoke(app, ["segment", "preview", "hot_leads", "--warehouse", demo_built])
    assert result.exit_code == 0, result.output
    con = connect(demo_built)
    size = con.execute("select count(*) from main.seg_hot_leads").fetchone()[0]
    con.close()
    assert f"hot_leads: {size} members" in result.output
    assert "overlap" in result.output and "customers" in result.output
    bad = CliRunner().invoke(app, ["segment", "preview", "hot_lead", "--warehouse", demo_built])
    assert bad.exit_code == 1 and "no segment named 'hot_lead'" in bad.output
