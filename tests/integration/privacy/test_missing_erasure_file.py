"""A load that no longer holds an earlier erasure request cannot send that person again.

The erasure runs as the Dagster asset ``privacy/erasure`` (a real in-process materialization), which records
the request in the erasure ledger. Then the raw table loses the request (as a load of a folder without
``erasure_requests`` once did), dbt rebuilds, and the next sync through the CLI still excludes the person:
``erased_persons`` matches the ledger's hashed record. The same scenario runs on PostgreSQL in
tests/integration/postgres/test_erasure_postgres.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from activations.privacy import erased_key
from orchestration.defs.privacy import erasure
from orchestration.resources import WarehouseResource
from outflow.contract import ERASED_IDENTIFIER_PREFIX
from outflow.warehouse import connect
from tests.integration.privacy.conftest import cli, rebuild, sync_spec, write_syncs

MODEL = "sync_customers_service_email"


def test_ledger_keeps_suppressing_after_the_request_is_gone(
    warehouse: Path | str, sandboxes: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = connect(warehouse)
    person, email = con.execute(f"select person_id, email from main.{MODEL} order by person_id limit 1").fetchone()
    cols = list(con.columns("main", MODEL))
    row = con.execute(f"select * from main.{MODEL} where person_id = ?", [person]).fetchone()
    con.close()
    syncs = tmp_path / "syncs"
    write_syncs(syncs, [sync_spec("service_webhook", "webhook", MODEL, "person_id", {"email": "email"})], sandboxes,
                monkeypatch)  # fmt: skip
    assert cli("sync", "run", "service_webhook", "--dir", syncs, "--warehouse", warehouse).exit_code == 0
    assert person in sandboxes["webhook"].records("contacts")

    con = connect(warehouse)
    con.execute(
        "insert into raw.erasure_requests values ('ledger-1', 'email', ?, "
        "(select max(requested_at) from raw.erasure_requests))",
        [email],
    )
    con.close()
    rebuild(warehouse)
    result = dg.materialize([erasure], resources={"warehouse": WarehouseResource(path=str(warehouse))})
    assert result.success
    meta = result.asset_materializations_for_node("privacy__erasure")[0].metadata
    assert meta["requests_recorded"].value >= 1 and meta["acked"].value == 1
    assert person not in sandboxes["webhook"].records("contacts")  # the erasure event reached the receiver

    # the processed request keeps no raw identifier: it is reduced to the ledger's hashed record
    con = connect(warehouse)
    (reduced,) = con.execute("select identifier from raw.erasure_requests where request_id = 'ledger-1'").fetchone()
    (digest,) = con.execute(
        "select subject_hash from outflow_sync.erasure_ledger where request_id = 'ledger-1'"
    ).fetchone()
    assert reduced == ERASED_IDENTIFIER_PREFIX + digest
    assert not con.execute("select count(*) from raw.erasure_requests where identifier = ?", [email]).fetchone()[0]
    con.close()

    # the raw table loses every request; the ledger keeps their hashed records
    con = connect(warehouse)
    before = con.execute("select count(*) from raw.erasure_requests").fetchone()[0]
    con.execute("delete from raw.erasure_requests")
    ledger = con.execute("select count(*) from outflow_sync.erasure_ledger").fetchone()[0]
    con.close()
    assert ledger == before
    rebuild(warehouse)
    con = connect(warehouse)
    assert con.execute("select count(*) from main.erased_persons where person_id = ?", [person]).fetchone()[0] == 1
    assert con.execute(f"select count(*) from main.{MODEL} where person_id = ?", [person]).fetchone()[0] == 0
    con.close()

    again = cli("sync", "run", "service_webhook", "--dir", syncs, "--warehouse", warehouse)
    assert again.exit_code == 0, again.output
    assert person not in sandboxes["webhook"].records("contacts")
    con = connect(warehouse)
    logged = dict(con.execute(
        "select key, count(*) from outflow_sync.sync_row_log where sync_name = 'service_webhook' and key in (?, ?) "
        "group by key",
        [person, erased_key("service_webhook", person)],
    ).fetchall())  # fmt: skip
    con.close()
    # the first run's add, its key reduced to a hash by the erasure; nothing sent since
    assert logged == {erased_key("service_webhook", person): 1}

    # even if the erased person came back into the activation model, the engine's own filter holds them back:
    # erased_persons (which reads the ledger) is part of it, whatever the raw requests hold
    con = connect(warehouse)
    con.execute(f"insert into main.{MODEL} ({', '.join(cols)}) values ({', '.join('?' for _ in cols)})", list(row))
    con.close()
    planted = cli("sync", "run", "service_webhook", "--dir", syncs, "--warehouse", warehouse)
    assert planted.exit_code == 0, planted.output
    assert person not in sandboxes["webhook"].records("contacts")
    con = connect(warehouse)
    reasons = con.execute(
        "select reason from outflow_sync.sync_invalid_rows where sync_name = 'service_webhook' and key = ?",
        [erased_key("service_webhook", person)],  # the erased person's key is kept only as its hash
    ).fetchall()
    con.close()
    assert reasons == [("erased",)]
