"""End to end on the real dbt activation models (a copy of the session's demo build, on each target)."""

from __future__ import annotations

from pathlib import Path

from activations.config import load_sync
from activations.engine import run_sync
from activations.sandboxes.webhook import WebhookSandbox
from tests.warehouse_fixtures import Location

EXAMPLES = Path(__file__).resolve().parents[3] / "activations" / "examples"


def _cfg(name: str, url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    text = (EXAMPLES / f"{name}.yml").read_text().replace("http://127.0.0.1:8790", url)
    text = text.replace("secret_env: OUTFLOW_WEBHOOK_SECRET", "secret_env: OUTFLOW_TEST_WEBHOOK_SECRET")
    path = tmp_path / f"{name}.yml"
    path.write_text(text.replace("rate_limit: {requests: 20, per_seconds: 1}", "rate_limit: {requests: 200}"))
    return load_sync(path)


def test_example_syncs_on_real_models(demo_warehouse: Location, sandbox: WebhookSandbox, tmp_path: Path) -> None:
    warehouse = demo_warehouse.ref
    audience = _cfg("hot_leads_webhook", sandbox.url, tmp_path)
    trigger = _cfg("cart_abandoned_webhook", sandbox.url, tmp_path)
    res = run_sync(audience, warehouse=warehouse)
    res_t = run_sync(trigger, warehouse=warehouse)
    con = demo_warehouse.connect()
    model = con.execute(
        "SELECT CAST(person_id AS VARCHAR), email, first_name FROM main.sync_hot_leads_email"
    ).fetchall()
    invalid = {r[0] for r in con.execute("SELECT key FROM outflow_sync.sync_invalid_rows").fetchall()}
    keys = [r[0] for r in con.execute("SELECT idempotency_key FROM main.trg_cart_abandoned").fetchall()]
    con.close()
    held = sandbox.records("contacts")
    assert res.acked == len(held) == len(model) - res.invalid
    for key, email, first_name in model:
        if key not in invalid:
            assert held[key]["email"] == email and held[key]["firstName"] == first_name
    assert sorted(m["key"] for m in sandbox.messages("events")) == sorted(keys)
    assert res_t.acked == len(keys)
    again = run_sync(audience, warehouse=warehouse)
    assert again.to_send == 0
