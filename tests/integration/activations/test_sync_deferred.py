"""Deferred rows: a row the destination holds back for a later run (Twilio's quiet hours in the recipient's time
zone) is neither sent nor failed. Over real HTTP to the Twilio sandbox, on DuckDB and PostgreSQL: it stays out of
the acknowledged state (the next run's diff offers it again), is logged and counted apart, a run that only defers
succeeds, and a row held past ``thresholds.max_deferral_hours`` is rejected with the reason. Then what people
see: `outflow sync run`, the Dagster asset (its metadata, and no alert) and the demo's summary line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from typer.testing import CliRunner

from activations.engine import SyncFailed, run_sync
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from activations.sandboxes.twilio import TwilioSandbox
from activations.state import ensure_schema
from outflow.warehouse import Warehouse
from tests.activations_fixtures import WarehouseRef, open_warehouse

SID = "AC" + "2" * 32
SECRET_ENV = "OUTFLOW_TEST_TWILIO"
NY, UTC = "America/New_York", "UTC"


def at(day: int, hour: int, minute: int = 30):  # noqa: ANN201
    """A run's clock: 2026-11-<day> <hour>:<minute> UTC."""
    return lambda: dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def sb(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwilioSandbox]:
    monkeypatch.setenv(SECRET_ENV, f"{SID}:twilio-auth-token")
    with TwilioSandbox(token="twilio-auth-token", account_sid=SID) as s:
        yield s


def _trigger(con: Warehouse, zones: list[str]) -> None:
    n = len(zones)
    df = pl.DataFrame({
        "idempotency_key": [f"k{i}" for i in range(n)],
        "phone": [f"+1212555{i:04d}" for i in range(n)],
        "first_name": [f"Ann{i}" for i in range(n)],
        "time_zone": zones,
        "country": ["US"] * n,
        "channel": ["sms"] * n,
        "purpose": ["marketing"] * n,
    })  # fmt: skip
    con.write_arrow("main.trg_sms", df, mode="replace")


def _cfg(directory: Path, sb: TwilioSandbox, **overrides):  # noqa: ANN003, ANN202
    d = vendor_sync_dict(
        "twilio_sms", sb.url, name="cart_sms", source="trg_sms", primary_key="idempotency_key", mode="insert",
        fields={"phone": "to", "first_name": "vars.first_name", "time_zone": "time_zone", "country": "country"},
        options={"from": "+15005550006", "body": "Hi {first_name}, your cart is waiting."}, secret_env=SECRET_ENV,
        obj="messages", **overrides,
    )  # fmt: skip
    return write_sync(directory, d)


def _rows(con: Warehouse, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall())


def test_deferred_rows_are_counted_and_not_marked_synced(
    tmp_path: Path, sb: TwilioSandbox, any_warehouse: WarehouseRef, any_con: Warehouse
) -> None:
    _trigger(any_con, [NY, NY, NY, UTC, UTC, UTC])
    cfg = _cfg(tmp_path / "syncs", sb)
    res = run_sync(cfg, warehouse=any_warehouse, clock=at(26, 12))  # 12:30 UTC, 07:30 in New York: quiet there
    assert (res.status, res.to_send, res.acked, res.rejected, res.deferred) == ("success", 6, 3, 0, 3)
    assert res.completion_ratio == 1.0 and res.error is None
    assert sorted(m["to"] for m in sb.messages) == ["+12125550003", "+12125550004", "+12125550005"]
    why = f"held: quiet hours in {NY}; sent next run"
    q = "outflow_sync"
    assert _rows(any_con, f"SELECT key FROM {q}.sync_state") == [("k3",), ("k4",), ("k5",)]
    assert _rows(any_con, f"SELECT key, status, message FROM {q}.sync_row_log WHERE status <> 'ok'") == [
        ("k0", "deferred", why), ("k1", "deferred", why), ("k2", "deferred", why)
    ]  # fmt: skip
    assert _rows(any_con, f"SELECT * FROM {q}.sync_rejected_rows") == []
    assert any_con.execute(f"SELECT status, acked, rejected, deferred FROM {q}.sync_runs").fetchall() == [
        ("success", 3, 0, 3)
    ]
    deferred = f"SELECT key, op, deferrals, reason, first_deferred_at, last_deferred_at FROM {q}.sync_deferred_rows"
    first = dt.datetime(2026, 11, 26, 12, 30)
    assert _rows(any_con, deferred) == [(f"k{i}", "add", 1, why, first, first) for i in range(3)]

    again = run_sync(cfg, warehouse=any_warehouse, clock=at(26, 12, 50))  # 07:50 in New York: still quiet
    assert (again.to_send, again.acked, again.deferred) == (3, 0, 3)
    later = dt.datetime(2026, 11, 26, 12, 50)
    assert _rows(any_con, deferred) == [(f"k{i}", "add", 2, why, first, later) for i in range(3)]

    sent = run_sync(cfg, warehouse=any_warehouse, clock=at(26, 13, 5))  # 08:05 in New York: sent
    assert (sent.status, sent.to_send, sent.acked, sent.deferred) == ("success", 3, 3, 0)
    assert len(sb.messages) == 6 and _rows(any_con, deferred) == []
    assert len(_rows(any_con, f"SELECT key FROM {q}.sync_state")) == 6
    assert run_sync(cfg, warehouse=any_warehouse, clock=at(26, 14)).to_send == 0


def test_a_row_deferred_past_the_limit_fails_with_the_reason(
    tmp_path: Path, sb: TwilioSandbox, any_warehouse: WarehouseRef, any_con: Warehouse
) -> None:
    _trigger(any_con, [NY, NY])
    cfg = _cfg(tmp_path / "syncs", sb, thresholds={"max_deferral_hours": 12})
    assert run_sync(cfg, warehouse=any_warehouse, clock=at(26, 3)).deferred == 2  # 22:30 in New York
    assert run_sync(cfg, warehouse=any_warehouse, clock=at(26, 10)).deferred == 2  # 05:30, 7 h later: within
    with pytest.raises(SyncFailed) as failed:  # 21:30 in New York the next day, 23 h later: past the limit
        run_sync(cfg, warehouse=any_warehouse, clock=at(27, 2))
    res = failed.value.result
    assert (res.status, res.acked, res.rejected, res.deferred) == ("failed", 0, 2, 0) and not sb.messages
    message = (
        "deferred too long: held back since 2026-11-26 03:30 UTC, more than thresholds.max_deferral_hours (12); "
        f"last reason: held: quiet hours in {NY}; sent next run; check the row's time zone and the sync's schedule"
    )
    assert f"e.g. {message}" in str(res.error)
    rejected = any_con.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows ORDER BY key").fetchall()
    assert rejected == [("k0", message), ("k1", message)]
    # a rejected row is offered again: once outside quiet hours it is sent, and nothing is left on record
    sent = run_sync(cfg, warehouse=any_warehouse, clock=at(27, 15))
    assert (sent.status, sent.acked, sent.rejected) == ("success", 2, 0) and len(sb.messages) == 2
    for table in ("sync_rejected_rows", "sync_deferred_rows"):
        assert any_con.execute(f"SELECT count(*) FROM outflow_sync.{table}").fetchone() == (0,)


def test_a_run_log_from_before_gains_the_deferred_column(any_con: Warehouse) -> None:
    ensure_schema(any_con)
    any_con.execute("ALTER TABLE outflow_sync.sync_runs DROP COLUMN deferred")
    ensure_schema(any_con)
    assert "deferred" in any_con.columns("outflow_sync", "sync_runs")


# ---- what people see (on DuckDB; the rows' zones are chosen so that it is quiet hours there now) ----------------


def _quiet_now() -> str:
    """A time zone where it is about 02:00 now (quiet hours, 21:00-08:00, whatever the hour of the test)."""
    n = (dt.datetime.now(dt.UTC).hour - 2) % 24
    n = n - 24 if n > 12 else n  # Etc/GMT+n is n hours behind UTC
    return f"Etc/GMT{'+' if n >= 0 else '-'}{abs(n)}"


@pytest.fixture
def quiet_syncs(tmp_path: Path, sb: TwilioSandbox, con: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Path:
    _trigger(con, [_quiet_now()] * 4)
    _cfg(tmp_path / "syncs", sb)
    monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(tmp_path / "syncs"))
    return tmp_path / "syncs"


def test_sync_run_reports_success_with_rows_deferred(quiet_syncs: Path, warehouse: Path, sb: TwilioSandbox) -> None:
    from outflow.cli import app

    out = CliRunner().invoke(app, ["sync", "run", "cart_sms", "--warehouse", str(warehouse)])
    assert out.exit_code == 0, out.output
    assert "sync cart_sms: success; 4 rows deferred (held: quiet hours in Etc/GMT" in out.stdout
    header, counts = (line.split("\t") for line in out.stdout.splitlines()[:2])  # piped: tab-separated
    assert dict(zip(header, counts, strict=True))["deferred"] == "4" and not sb.messages
    assert out.stderr.splitlines()[-1].startswith("sync cart_sms: 4/4 rows sent (0 rejected, 0 retries, 4 deferred")
    runs = CliRunner().invoke(app, ["sync", "runs", "--warehouse", str(warehouse)])
    assert runs.exit_code == 0 and "0/0/4" in runs.stdout  # acked/rejected/deferred


def test_the_dagster_asset_succeeds_with_rows_deferred_and_no_alert(
    quiet_syncs: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.defs.activation_syncs import build_defs
    from orchestration.defs.alerts import sync_check_alert
    from orchestration.resources import WarehouseResource

    posted: list[str] = []
    monkeypatch.setattr("orchestration.defs.alerts.post_alert", posted.append)
    defs = build_defs()
    with dg.instance_for_test() as instance:
        result = dg.materialize(list(defs.assets), resources={"warehouse": WarehouseResource(path=str(warehouse))},
                                instance=instance, raise_on_error=False)  # fmt: skip
        assert result.success
        md = result.asset_materializations_for_node("activations__cart_sms")[0].metadata
        assert (md["status"].value, md["deferred"].value, md["acked"].value, md["rejected"].value) == (
            "success", 4, 0, 0
        )  # fmt: skip
        assert md["deferred_reason"].value.startswith("held: quiet hours in Etc/GMT")
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {"rejected_rows": True, "invalid_share": True}
        (entry,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        sync_check_alert(
            dg.build_run_status_sensor_context(
                sensor_name="alert",
                dagster_instance=instance,
                dagster_run=result.dagster_run,
                dagster_event=entry.dagster_event,
            )  # fmt: skip
        )
    assert posted == []  # a deferral is no alert


# ---- the demo -------------------------------------------------------------------------------------------------


def test_the_demo_reports_the_sms_sync_succeeded_with_rows_deferred(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`make demo` runs at any hour: at 02:00 in its recipients' time zone, the SMS sync succeeds with its rows
    deferred, and its summary line says so (the run's clock is passed, not read from the wall)."""
    from outflow.demo import sync_to_sandboxes
    from tests.demo_builds import copy_demo

    warehouse = copy_demo(request, "duckdb", tmp_path).path
    assert warehouse is not None
    with open_warehouse(warehouse) as con:
        zones = [z for (z,) in con.execute("SELECT DISTINCT time_zone FROM main.trg_cart_reminder_sms").fetchall()]
    assert NY in zones
    for clock, quiet in ((at(27, 7), True), (at(27, 17), False)):  # 02:30 and 12:30 in New York
        with ExitStack() as stack:
            results, _ = sync_to_sandboxes(warehouse, stack, clock=clock)
        (sms,) = [r for r in results if r["sync"] == "cart_reminder_twilio"]
        assert sms["status"] == "success" and sms["rejected"] == 0, sms
        assert (sms["deferred"] > 0) == quiet and sms["acked"] + sms["deferred"] == sms["to_send"] > 0
        if quiet:
            assert sms["outcome"] == (f"success; {sms['deferred']} rows deferred ({sms['deferred_reason']})")
            assert sms["deferred_reason"].startswith("held: quiet hours in ")
        else:
            assert sms["outcome"] == "success"
