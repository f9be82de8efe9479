"""Where a person sees deferred rows (held back by the destination for a later run: Twilio's quiet hours), on
DuckDB and PostgreSQL, over real HTTP to the Twilio sandbox: `outflow sync rejected --deferred` and its hint, the
reasons per sync and the latest run's count (the HTML report), a person's rows held back now with why
(`outflow person explain`, the report's person pages), a state from before deferred rows (read as none deferred,
not as an older layout), and an erasure dropping the erased person's deferred rows."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from activations import rows
from activations.config import SyncConfig
from activations.engine import run_sync
from activations.privacy import erased_key, run_erasure
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from activations.sandboxes.twilio import TwilioSandbox
from outflow.report import facts
from outflow.warehouse import Warehouse
from tests.activations_fixtures import WarehouseRef

SID = "AC" + "3" * 32
SECRET_ENV = "OUTFLOW_TEST_TWILIO_SEEN"
NY, UTC = "America/New_York", "UTC"
WHY = f"held: quiet hours in {NY}; sent next run"
T = dt.datetime(2026, 11, 1, 9, 0)


def at(hour: int, minute: int = 30):  # noqa: ANN201
    return lambda: dt.datetime(2026, 11, 26, hour, minute, tzinfo=dt.UTC)


def cart_sms(syncs: Path, url: str) -> SyncConfig:
    """The SMS sync of the cart reminders (trg_sms) to the Twilio sandbox at ``url``, written in ``syncs``."""
    return write_sync(syncs, vendor_sync_dict(
        "twilio_sms", url, name="cart_sms", source="trg_sms", primary_key="idempotency_key", mode="insert",
        fields={"phone": "to", "first_name": "vars.first_name", "time_zone": "time_zone", "country": "country",
                "person_id": "vars.person_id"},
        options={"from": "+15005550006", "body": "Hi {first_name}, your cart is waiting."},
        secret_env=SECRET_ENV, obj="messages"))  # fmt: skip


@pytest.fixture
def deferred(
    tmp_path: Path, any_warehouse: WarehouseRef, any_con: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Warehouse]:
    """Sync cart_sms ran twice at 07:30 and 07:50 in New York: p_0 and p_1 (New York) deferred twice, p_2
    (UTC) sent; then the people's marts for `person explain`."""
    monkeypatch.setenv(SECRET_ENV, f"{SID}:twilio-auth-token")
    people = [f"p_{i}" for i in range(3)]
    any_con.write_arrow("main.trg_sms", pl.DataFrame({
        "idempotency_key": ["k0", "k1", "k2"], "person_id": people,
        "phone": [f"+1212555000{i}" for i in range(3)], "first_name": ["Ann", "Bob", "Cy"],
        "time_zone": [NY, NY, UTC], "country": ["US"] * 3, "channel": ["sms"] * 3, "purpose": ["marketing"] * 3,
    }), mode="replace")  # fmt: skip
    syncs = tmp_path / "syncs"
    monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(syncs))
    with TwilioSandbox(token="twilio-auth-token", account_sid=SID) as sb:
        cfg = cart_sms(syncs, sb.url)
        assert run_sync(cfg, warehouse=any_warehouse, clock=at(12)).deferred == 2
        assert run_sync(cfg, warehouse=any_warehouse, clock=at(12, 50)).deferred == 2
        assert [m["to"] for m in sb.messages] == ["+12125550002"]
    marts = {  # what `person explain` reads (written after the runs: no consent ledger filters them)
        "dim_profiles": pl.DataFrame({"person_id": people, "phone": ["+12125550000", None, None]}),
        "segment_membership_history": pl.DataFrame(
            {"person_id": ["p_0"], "segment": ["carts"], "entered_at": [T], "exited_at": [None]},
            schema_overrides={"exited_at": pl.Datetime("us")},
        ),
        "audience_exposure_history": pl.DataFrame(
            {
                "person_id": ["p_0"],
                "audience": ["carts_sms"],
                "measurement_group": ["treatment"],
                "entered_at": [T],
                "exited_at": [None],
            },
            schema_overrides={"exited_at": pl.Datetime("us")},
        ),  # fmt: skip
        "dim_consent": pl.DataFrame(
            {
                "person_id": people,
                "channel": ["sms"] * 3,
                "purpose": ["marketing"] * 3,
                "status": ["granted"] * 3,
                "decided_at": [T] * 3,
                "source": ["web_form"] * 3,
            }
        ),  # fmt: skip
    }
    for name, frame in marts.items():
        any_con.write_arrow(f"main.{name}", frame, mode="replace")
    yield any_con


def _cli(*args: str) -> tuple[str, str]:
    from outflow.cli import app

    out = CliRunner().invoke(app, list(args))
    assert out.exit_code == 0, out.output
    assert "older layout" not in out.output and "Traceback" not in out.output
    return out.stdout, out.stderr


def test_deferred_rows_are_listed_counted_and_explained(deferred: Warehouse) -> None:
    q = rows.state_for_reading(deferred)
    assert q is not None
    since = dt.datetime(2026, 11, 26, 12, 30)
    listed = rows.deferred_rows(deferred, q, "cart_sms").drop("last_deferred_at").rows()
    assert listed == [("cart_sms", "k0", "add", 2, WHY, since), ("cart_sms", "k1", "add", 2, WHY, since)]
    assert ("cart_sms", "deferred", WHY, 2) in rows.reasons(deferred, q).rows()
    latest, why = facts.sync_health(deferred)
    assert latest.select("sync_name", "acked", "rejected", "deferred").rows() == [("cart_sms", 0, 0, 2)]
    assert why.rows() == [("cart_sms", "deferred", WHY, 2)]
    held = rows.people_held(deferred, q, ["p_0", "p_2"])
    line = f"{WHY} (since 2026-11-26 12:30 UTC, runs: 2)"
    assert held.rows() == [("p_0", "cart_sms", "k0", "deferred", line)]  # p_2 was sent: nothing held
    assert facts.person(deferred, "p_1").held.rows() == [("cart_sms", "k1", "deferred", line)]

    # on the command line: the listing, the hint under the rejected rows, and the person's rows held back
    listing, _ = _cli("sync", "rejected", "cart_sms", "--deferred")  # piped: tab-separated under a header
    header, *lines = (line.split("\t") for line in listing.splitlines())
    assert header[:5] == ["sync_name", "key", "op", "runs", "reason"]
    assert [line[:5] for line in lines] == [["cart_sms", k, "add", "2", WHY] for k in ("k0", "k1")]
    _, hint = _cli("sync", "rejected", "cart_sms")
    assert "2 rows deferred (sent at a later run): `outflow sync rejected cart_sms --deferred`" in hint
    explained, _ = _cli("person", "explain", "p_0")
    assert f"cart_sms\tk0\tdeferred\t{line}" in explained.splitlines()


def test_a_state_from_before_deferred_rows_reads_as_none_deferred(
    deferred: Warehouse, any_warehouse: WarehouseRef
) -> None:
    deferred.execute("DROP TABLE outflow_sync.sync_deferred_rows")
    deferred.execute("ALTER TABLE outflow_sync.sync_runs DROP COLUMN deferred")
    q = rows.state_for_reading(deferred)  # not "the warehouse's sync state is of an older layout"
    assert q is not None and q.endswith("outflow_sync") and not rows.has_deferrals(deferred)
    assert rows.deferred_rows(deferred, q).height == 0
    assert "deferred" not in rows.reasons(deferred, q)["kind"].to_list()
    assert rows.people_held(deferred, q, ["p_0"]).height == 0
    latest, _ = facts.sync_health(deferred)
    assert latest["deferred"].to_list() == [None] and latest["sync_name"].to_list() == ["cart_sms"]
    assert facts.person(deferred, "p_0").held.height == 0
    _, empty = _cli("sync", "rejected", "--deferred")
    assert "no rows deferred by the destination" in empty
    assert "outflow_sync.sync_deferred_rows" not in _cli("person", "explain", "p_0")[1]
    assert not rows.has_deferrals(deferred)  # the readers created nothing: the engine's next run does


def test_an_erasure_drops_the_erased_persons_deferred_rows(deferred: Warehouse) -> None:
    deferred.execute(
        "CREATE TABLE main.stg_privacy__erasure_requests AS SELECT CAST('r-0' AS VARCHAR) AS request_id, "
        "CAST('phone' AS VARCHAR) AS identifier_type, CAST('+12125550000' AS VARCHAR) AS identifier_value, "
        "CAST('2026-11-26' AS TIMESTAMP) AS requested_at"
    )
    deferred.execute("CREATE TABLE main.erased_persons AS SELECT CAST('p_0' AS VARCHAR) AS person_id")
    res = run_erasure(con=deferred)
    assert res.status == "success" and res.sent == 0  # never sent to the destination: nothing to erase there
    left = deferred.execute("SELECT sync_name, key FROM outflow_sync.sync_deferred_rows").fetchall()
    assert left == [("cart_sms", "k1")]
    # the run log keeps the erased person's key only as its hash; the other person's stays as it was
    logged = deferred.execute("SELECT DISTINCT key FROM outflow_sync.sync_row_log ORDER BY key").fetchall()
    assert logged == sorted([(erased_key("cart_sms", "k0"),), ("k1",), ("k2",)])


def test_a_sync_after_an_erasure_keeps_only_the_hash_of_the_erased_key(
    deferred: Warehouse, any_warehouse: WarehouseRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the gate would refuse the whole sync (an erased person in the model); with that check off, the engine's
    # own filter holds the person back, and what it records of them is the hash of their key
    lax = tmp_path / "quality.yml"
    lax.write_text("disabled: [no_erased_person]\n")
    monkeypatch.setenv("OUTFLOW_QUALITY_CONFIG", str(lax))
    deferred.write_arrow("main.int_identity__identifiers", pl.DataFrame({  # the people's phones in the graph
        "identifier_type": ["phone"] * 3, "identifier_value": [f"+1212555000{i}" for i in range(3)],
        "person_id": [f"p_{i}" for i in range(3)]}), mode="replace")  # fmt: skip
    deferred.execute(  # p_1's phone asked to be erased
        "CREATE TABLE main.stg_privacy__erasure_requests AS SELECT CAST('r-1' AS VARCHAR) AS request_id, "
        "CAST('phone' AS VARCHAR) AS identifier_type, CAST('+12125550001' AS VARCHAR) AS identifier_value, "
        "CAST('2026-11-26' AS TIMESTAMP) AS requested_at"
    )
    with TwilioSandbox(token="twilio-auth-token", account_sid=SID) as sb:
        cfg = cart_sms(tmp_path / "again", sb.url)
        res = run_sync(cfg, warehouse=any_warehouse, clock=at(18))
        assert "+12125550001" not in [m["to"] for m in sb.messages]  # p_1 is erased: never sent
    held = deferred.execute("SELECT key, reason FROM outflow_sync.sync_invalid_rows WHERE sync_name = 'cart_sms'")
    assert held.fetchall() == [(erased_key("cart_sms", "k1"), "erased")], res


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dom(page: Path) -> str:
    return subprocess.run(
        [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip


def _table(dom: str, table_id: str) -> list[list[str]]:
    (body,) = re.findall(rf'<table id="{table_id}">(.*?)</table>', dom, re.S)
    return [re.findall(r"<t[hd]>(.*?)</t[hd]>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_report_shows_deferred_rows_in_chromium(deferred: Warehouse, tmp_path: Path) -> None:
    from outflow.report.site import write_site

    deferred.write_arrow("main.int_audience__activation", pl.DataFrame(
        {c: ["p_0" if c == "person_id" else "x"] for c in facts.MEMBER_COLUMNS} | {"audience": ["carts_sms"]}
    ), mode="replace")  # fmt: skip
    index = write_site(deferred, tmp_path / "site", max_people=10)
    dom = _dom(index)
    runs = _table(dom, "sync-runs")
    assert dict(zip(runs[0], runs[1], strict=True))["deferred"] == "2"
    assert ["cart_sms", "deferred", html.escape(WHY), "2"] in _table(dom, "sync-reasons")
    (chart,) = re.findall(r'<section class="chart" data-chart="sync-health">(.*?)</section>', dom, re.S)
    assert "main-svg" in chart and re.search(r'class="legendtext"[^>]*>deferred<', chart)
    person = _dom(index.parent / "people" / "p_0.html")
    (held,) = re.findall(r'<div class="held">(.*?)</div>', person, re.S)
    assert "<td>deferred</td>" in held and html.escape(f"{WHY} (since 2026-11-26 12:30 UTC, runs: 2)") in held
