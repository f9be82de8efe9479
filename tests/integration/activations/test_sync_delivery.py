"""Delivery over real HTTP to the webhook sandbox on 127.0.0.1: every fault class and safety rail."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from activations import rows
from activations.config import SyncConfig
from activations.engine import SyncFailed, run_sync
from activations.sandboxes.testing import make_secret, make_triggers, sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from data_quality.config import QualityConfig
from outflow.cli import app
from outflow.errors import OutflowError
from outflow.report import facts
from outflow.warehouse import Warehouse
from tests.activations_fixtures import WarehouseRef, open_warehouse


@pytest.fixture
def warehouse(any_warehouse: WarehouseRef) -> WarehouseRef:
    """Every test below runs on DuckDB and on PostgreSQL (the settings name the warehouse, for the CLI)."""
    return any_warehouse


@pytest.fixture
def con(any_con: Warehouse) -> Warehouse:
    return any_con


def _cfg(tmp_path: Path, sb: WebhookSandbox, **kw: object) -> SyncConfig:
    return write_sync(tmp_path / "syncs", sync_dict(sb.url, **kw))


def _model(con: Warehouse) -> dict[str, dict]:
    rows = con.execute("SELECT person_id, email, first_name, score FROM main.sync_contacts").fetchall()
    return {str(r[0]): {"email": r[1], "firstName": r[2], "score": r[3]} for r in rows}


def test_initial_then_incremental_mirror(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    cfg = _cfg(tmp_path, sandbox)
    res = run_sync(cfg, con=con)
    assert (res.status, res.added, res.acked, res.requests) == ("success", 500, 500, 5)
    assert sandbox.records("contacts") == _model(con)
    con.execute("UPDATE main.sync_contacts SET score = -1 WHERE person_id < 20")
    con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 480")
    res = run_sync(cfg, con=con)
    assert (res.changed, res.removed, res.added, res.acked) == (20, 20, 0, 40)
    assert sandbox.records("contacts") == _model(con)
    again = run_sync(cfg, con=con)
    assert again.to_send == 0 and again.requests == 0
    runs = con.execute("SELECT status, acked FROM outflow_sync.sync_runs ORDER BY started_at").fetchall()
    assert runs == [("success", 500), ("success", 40), ("success", 0)]
    log = dict(con.execute("SELECT op, count(*) FROM outflow_sync.sync_row_log GROUP BY op").fetchall())
    assert log == {"add": 500, "change": 20, "remove": 20}


@pytest.mark.parametrize(
    ("fault", "stat"),
    [
        ({"kind": "status", "code": 429, "retry_after": "0.2", "times": 2}, "fault_status"),
        ({"kind": "status", "code": 500, "times": 2}, "fault_status"),
        ({"kind": "status", "code": 503, "times": 1}, "fault_status"),
        ({"kind": "slow", "seconds": 2.5, "times": 1}, "fault_slow"),  # client timeout is 2 s
        ({"kind": "drop", "times": 2}, "fault_drop"),
    ],
)
def test_transient_faults_are_retried(tmp_path: Path, sandbox: WebhookSandbox, con, fault, stat) -> None:
    sandbox.state.add_fault(fault)
    res = run_sync(_cfg(tmp_path, sandbox), con=con)
    assert res.status == "success" and res.acked == 500
    assert res.retries == fault["times"]
    assert sandbox.stats[stat] == fault["times"]
    assert sandbox.records("contacts") == _model(con)


def test_retry_after_is_honoured(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    sandbox.inject("status", code=429, retry_after="1.2", times=1)
    res = run_sync(_cfg(tmp_path, sandbox), con=con)
    assert res.throttled == 1 and res.duration_s >= 1.2


def test_retries_exhausted_fail_without_losing_rows(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    cfg = _cfg(tmp_path, sandbox, destination={"max_retries": 2})
    sandbox.inject("status", code=500, times=3)  # first batch fails 3 times = 1 try + 2 retries
    with pytest.raises(SyncFailed, match="still failing after 2 retries") as exc:
        run_sync(cfg, con=con)
    assert exc.value.result.acked == 0
    assert con.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone() == (0,)
    res = run_sync(cfg, con=con)  # next run delivers everything
    assert res.acked == 500 and sandbox.records("contacts") == _model(con)


def test_partial_failure_rows_rejected_and_retried(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    cfg = _cfg(tmp_path, sandbox)
    sandbox.inject("partial", keys=["3", "250"], message="firstName: too long")
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 498, 2)
    rej = con.execute("SELECT key, attempts, last_error FROM outflow_sync.sync_rejected_rows ORDER BY key").fetchall()
    assert rej == [("250", 1, "firstName: too long"), ("3", 1, "firstName: too long")]
    with pytest.raises(SyncFailed, match=r"every row sent \(2\) was rejected"):  # retried, still refused
        run_sync(cfg, con=con)
    assert con.execute("SELECT max(attempts) FROM outflow_sync.sync_rejected_rows").fetchone() == (2,)
    sandbox.state.partial_keys.clear()
    res = run_sync(cfg, con=con)
    assert res.acked == 2 and res.status == "success"
    assert con.execute("SELECT count(*) FROM outflow_sync.sync_rejected_rows").fetchone() == (0,)
    assert sandbox.records("contacts") == _model(con)


def test_whole_batch_failure_is_split_to_isolate_bad_record(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    sandbox.inject("reject_keys", keys=["42"], message="email: domain not allowed")
    res = run_sync(_cfg(tmp_path, sandbox), con=con)
    assert (res.acked, res.rejected) == (499, 1)
    assert "42" not in sandbox.records("contacts") and len(sandbox.records("contacts")) == 499
    row = con.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchall()
    assert row == [("42", "HTTP 422: email: domain not allowed")]
    # batch of 100 → halves down to the one bad record: at most ~2*log2(100) extra requests
    assert res.requests <= 5 + 2 * 7


def test_auth_failure_stops_at_once(tmp_path: Path, sandbox: WebhookSandbox, con, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TEST_WEBHOOK_SECRET", make_secret(b"the-wrong-key-entirely!!"))
    with pytest.raises(SyncFailed, match="refused the credentials from OUTFLOW_TEST_WEBHOOK_SECRET") as exc:
        run_sync(_cfg(tmp_path, sandbox), con=con)
    assert exc.value.result.requests == 1  # no retry storm
    assert sandbox.stats["bad_signature"] == 1
    assert "whsec_" not in str(exc.value)
    sandbox.inject("status", code=403, times=1)
    monkeypatch.setenv("OUTFLOW_TEST_WEBHOOK_SECRET", sandbox.state.secret)
    with pytest.raises(SyncFailed, match="HTTP 403"):
        run_sync(_cfg(tmp_path, sandbox), con=con)


def test_missing_secret_fails_before_reading_data(tmp_path: Path, sandbox: WebhookSandbox, monkeypatch) -> None:
    monkeypatch.delenv("OUTFLOW_TEST_WEBHOOK_SECRET")
    wh = tmp_path / "never_created.duckdb"
    with pytest.raises(OutflowError, match="environment variable OUTFLOW_TEST_WEBHOOK_SECRET is not set"):
        run_sync(_cfg(tmp_path, sandbox), warehouse=wh)
    assert not wh.exists()


def test_invalid_rows_set_aside_never_sent(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    con.execute("INSERT INTO main.sync_contacts VALUES (NULL, 'a@example.com', 'n', 1, ''), "
                "(7, 'dup@example.com', 'n', 1, ''), (900, 'broken.email', 'n', 1, '')")  # fmt: skip
    # the quality gate would refuse the whole run; with its key and email checks disabled the engine still
    # sets the bad rows aside itself
    lax = QualityConfig(disabled=["key_not_null", "key_unique", "email_valid"])
    res = run_sync(_cfg(tmp_path, sandbox), con=con, quality_config=lax)
    assert res.invalid == 4 and res.acked == 499  # 500 + 3 rows, minus 4 invalid (both copies of key 7)
    got = sandbox.records("contacts")
    assert "7" not in got and "900" not in got and len(got) == 499
    reasons = con.execute(
        "SELECT reason, count(*) FROM outflow_sync.sync_invalid_rows GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert reasons == [("duplicate_key", 2), ("invalid_email:email", 1), ("null_key", 1)]


def test_dry_run_sends_nothing(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    res = run_sync(_cfg(tmp_path, sandbox), con=con, dry_run=True)
    assert res.status == "dry_run" and res.added == 500 and len(res.samples["add"]) == 5
    assert sandbox.stats.get("requests", 0) == 0
    assert con.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone() == (0,)
    # a dry run as the first run of a warehouse leaves the state's whole layout: its readers (the HTML report,
    # `outflow sync rejected`) read it rather than calling it an older layout to migrate
    assert rows.state_for_reading(con) is not None
    latest, _ = facts.sync_health(con)
    assert latest.height == 0  # a dry run is no delivery


def test_cli_dry_run_and_breaker(tmp_path: Path, sandbox: WebhookSandbox, warehouse: WarehouseRef) -> None:
    _cfg(tmp_path, sandbox)
    runner = CliRunner()
    base = ["--dir", str(tmp_path / "syncs")]
    out = runner.invoke(app, ["sync", "run", "contacts_webhook", "--dry-run", *base])
    assert out.exit_code == 0, out.stdout + out.stderr
    assert "dry run: nothing sent" in out.stdout and "user0@example.com" in out.stdout
    assert sandbox.stats.get("requests", 0) == 0
    assert runner.invoke(app, ["sync", "run", "contacts_webhook", *base]).exit_code == 0
    con = open_warehouse(warehouse)
    con.execute("DELETE FROM main.sync_contacts WHERE person_id < 150")  # 30% of what the destination holds
    con.close()
    refused = runner.invoke(app, ["sync", "run", "contacts_webhook", *base])
    assert refused.exit_code == 1
    assert "circuit breaker" in refused.stderr and "150 of the 500" in refused.stderr
    assert len(sandbox.records("contacts")) == 500
    forced = runner.invoke(app, ["sync", "run", "contacts_webhook", "--force", *base])
    assert forced.exit_code == 0 and len(sandbox.records("contacts")) == 350
    runs = runner.invoke(app, ["sync", "runs", "contacts_webhook"])
    assert "refused" in runs.stdout and "success" in runs.stdout


def test_quality_gate_runs_inside_the_engine(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    con.execute("INSERT INTO main.sync_contacts VALUES (900, 'broken.email', 'n', 1, '')")
    with pytest.raises(SyncFailed, match="preflight checks failed on main.sync_contacts: .*email_valid failed"):
        run_sync(_cfg(tmp_path, sandbox), con=con)  # no argument needed, none can switch it off
    assert sandbox.stats.get("requests", 0) == 0
    con.execute("DELETE FROM main.sync_contacts WHERE person_id = 900")
    assert run_sync(_cfg(tmp_path, sandbox), con=con).acked == 500


def test_update_mode_rejects_unknown_records(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    run_sync(_cfg(tmp_path, sandbox, name="seed", mode="upsert"), con=con)
    con.execute("INSERT INTO main.sync_contacts VALUES (5000, 'new@example.com', 'n', 1, '')")
    con.execute("UPDATE main.sync_contacts SET score = 1234 WHERE person_id = 1")
    res = run_sync(_cfg(tmp_path, sandbox, name="updater", mode="update"), con=con)
    assert res.rejected == 1  # update-only never creates: 5000 is refused as not found
    assert sandbox.records("contacts")["1"]["score"] == 1234 and "5000" not in sandbox.records("contacts")


def test_triggers_fire_once(tmp_path: Path, sandbox: WebhookSandbox, con) -> None:
    make_triggers(con, rows=300)
    cfg = _cfg(tmp_path, sandbox, name="welcome", source="trg_welcome", mode="insert")
    assert run_sync(cfg, con=con).acked == 300
    con.execute("UPDATE main.trg_welcome SET email = 'changed@example.com' WHERE person_id < 10")
    assert run_sync(cfg, con=con).to_send == 0  # a trigger never fires twice for one key
    assert len(sandbox.messages("events")) == 300


def test_rate_limiter_is_shared_per_destination(tmp_path: Path, secret: str, con) -> None:
    import asyncio

    from activations.config import RateLimit
    from activations.delivery import shared_limiter

    async def same() -> bool:
        a = shared_limiter("http://x", RateLimit(requests=5))
        b = shared_limiter("http://x", RateLimit(requests=5))
        c = shared_limiter("http://y", RateLimit(requests=5))
        return a is b and a is not c

    assert asyncio.run(same())
    with WebhookSandbox(secret, rate_limit=(10, 1.0)) as sb:
        cfg = _cfg(tmp_path, sb, batch_size=20, destination={"rate_limit": {"requests": 10, "per_seconds": 1}})
        res = run_sync(cfg, con=con)  # 25 requests at 10/s
        assert res.acked == 500 and res.duration_s >= 1.3
        assert sb.stats.get("rate_limited", 0) <= 1


def test_concurrent_syncs_share_the_destination_rate_limit(tmp_path: Path, secret: str, con) -> None:
    from activations.engine import run_syncs

    make_triggers(con, rows=200)
    rate = {"rate_limit": {"requests": 10, "per_seconds": 1}}
    with WebhookSandbox(secret, rate_limit=(10, 1.0)) as sb:
        a = _cfg(tmp_path, sb, name="audience_a", batch_size=20, destination=rate)
        b = _cfg(tmp_path, sb, name="welcome_b", source="trg_welcome", mode="insert", batch_size=20,
                 destination=rate)  # fmt: skip
        results = run_syncs([a, b], con=con)  # 25 + 10 requests through ONE 10 req/s limiter
        assert [r.acked for r in results] == [500, 200]  # type: ignore[union-attr]
        assert max(r.duration_s for r in results) >= 2.5  # type: ignore[union-attr]
        assert sb.stats.get("rate_limited", 0) <= 1
        assert len(sb.records("contacts")) == 500 and len(sb.messages("events")) == 200


def test_cli_runs_several_syncs(tmp_path: Path, sandbox: WebhookSandbox, warehouse: WarehouseRef) -> None:
    con = open_warehouse(warehouse)
    make_triggers(con, rows=50)
    con.close()
    _cfg(tmp_path, sandbox)
    _cfg(tmp_path, sandbox, name="welcome", source="trg_welcome", mode="insert")
    base = ["--dir", str(tmp_path / "syncs")]
    out = CliRunner().invoke(app, ["sync", "run", "--all", *base])
    assert out.exit_code == 0, out.stdout + out.stderr
    assert "sync contacts_webhook: success" in out.stdout and "sync welcome: success" in out.stdout
    assert len(sandbox.records("contacts")) == 500 and len(sandbox.messages("events")) == 50
