"""End to end through a destination sandbox: the consent rule and the erasure path.

A copy of the built warehouse is synced (real sync engine, real HTTP to the webhook sandbox on 127.0.0.1)
from the sync_lapsed_customers_email audience; then a raw erasure request and a raw consent revocation arrive
for two synced people, dbt rebuilds, and the next sync removes both from the destination. The run log
proves it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from activations.engine import run_sync
from activations.sandboxes.testing import make_secret, sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from outflow.build import run_dbt
from outflow.load import dataset_as_of
from outflow.warehouse import connect
from tests.integration.segments.conftest import copy_warehouse

SECRET_ENV = "OUTFLOW_TEST_SEGMENTS_WEBHOOK_SECRET"
AUDIENCE = "sync_lapsed_customers_email"


@pytest.fixture
def warehouse(built_warehouse: Path, tmp_path: Path) -> Path:
    path = tmp_path / "e2e.duckdb"
    copy_warehouse(built_warehouse, path)
    return path


def test_consent_and_erasure_reach_the_destination(warehouse: Path, tmp_path: Path, monkeypatch) -> None:
    secret = make_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with WebhookSandbox(secret) as sandbox:
        cfg = write_sync(
            tmp_path / "syncs",
            sync_dict(
                sandbox.url,
                name="lapsed_email_e2e",
                source=AUDIENCE,
                secret_env=SECRET_ENV,
                fields={"email": "email", "first_name": "firstName"},
            ),
        )
        con = connect(warehouse)
        first = run_sync(cfg, con=con)
        assert first.status == "success" and first.added > 0
        received = sandbox.records("contacts")
        assert set(received) == {r[0] for r in con.execute(f"select person_id from main.{AUDIENCE}").fetchall()}
        # The destination only ever received people with granted marketing consent on email.
        no_consent = con.execute(
            """select count(*) from (select unnest(?::varchar[]) as person_id) r
            left join main.dim_consent k on k.person_id = r.person_id and k.channel = 'email'
                and k.purpose = 'marketing'
            where k.is_granted is not true""",
            [sorted(received)],
        ).fetchone()[0]
        assert no_consent == 0
        # Segment members without consent exist and were not sent.
        withheld = con.execute(
            """select count(*) from main.seg_lapsed_customers s
            left join main.dim_consent k on k.person_id = s.person_id and k.channel = 'email'
                and k.purpose = 'marketing'
            where k.is_granted is not true"""
        ).fetchone()[0]
        assert withheld > 0 and not (
            {r[0] for r in con.execute("select person_id from main.seg_lapsed_customers").fetchall()}
            - {r[0] for r in con.execute(f"select person_id from main.{AUDIENCE}").fetchall()}
        ) & set(received)

        # An erasure request and an opt-out arrive in the raw data for two people the destination holds.
        (erased, erased_email), (revoked, revoked_email) = con.execute(
            f"select m.person_id, m.email from main.{AUDIENCE} m order by m.person_id limit 2"
        ).fetchall()
        as_of = dataset_as_of(con)
        con.execute(
            "insert into raw.erasure_requests values ('e2e-erasure', 'email', ?, cast(? as timestamp))",
            [erased_email, as_of],
        )
        con.execute(
            "insert into raw.consent_events values ('e2e-optout', 'email', ?, 'marketing', 'email', "
            "'revoked', 'preference_center', cast(? as timestamp))",
            [revoked_email, as_of],
        )
        con.close()
        run_dbt(
            ["run", "--select", "stg_consent__events+ stg_privacy__erasure_requests+"],
            warehouse=warehouse,
            as_of=as_of,
        )

        con = connect(warehouse)
        second = run_sync(cfg, con=con)
        assert second.status == "success"
        assert second.removed >= 2
        held = sandbox.records("contacts")
        assert erased not in held and revoked not in held
        assert set(held) == {r[0] for r in con.execute(f"select person_id from main.{AUDIENCE}").fetchall()}
        # The run log proves the erasure: the erased person's removal was acknowledged by the destination.
        proof = con.execute(
            """select l.op, l.status from outflow_sync.sync_row_log l
            join outflow_sync.sync_runs r using (run_id)
            join main.erased_persons e on e.person_id = l.key
            where r.run_id = ? and l.key = ?""",
            [second.run_id, erased],
        ).fetchall()
        con.close()
        assert proof and all(op == "remove" for op, _ in proof), proof
