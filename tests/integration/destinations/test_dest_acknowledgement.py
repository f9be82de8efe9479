"""Strict acknowledgement: a row counts as delivered only when the vendor's answer confirms it.

Every vendor sandbox can answer a request with a 2xx that carries none of the vendor's per-row results
(``no_results``, e.g. a maintenance page): the rows are rejected as unconfirmed (never counted delivered,
never a crash), the run fails with the reason, and the next run sends them again.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from activations.engine import SyncFailed, run_sync
from activations.sandboxes import vendor_sandboxes
from activations.sandboxes.testing import VENDOR_PLANS, make_triggers, vendor_sync_dict, write_sync
from tests.integration.destinations.conftest import TOKEN

VENDORS = ["hubspot", "mailchimp", "braze", "customerio", "google_ads_customer_match", "klaviyo", "sendgrid",
           "meta_audiences", "salesforce"]  # fmt: skip


@pytest.mark.parametrize("kind", VENDORS)
def test_a_2xx_without_row_results_confirms_nothing(
    kind: str, tmp_path: Path, con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = VENDOR_PLANS[kind]
    if kind in ("braze", "customerio"):
        make_triggers(con, rows=150)
    with vendor_sandboxes()[kind](token=TOKEN) as sb:
        extra = {k: plan[k] for k in ("mode", "source", "primary_key", "obj") if k in plan}
        d = vendor_sync_dict(
            kind, sb.url + plan.get("suffix", ""), fields=plan.get("fields"), options=plan["options"], **extra
        )
        cfg = write_sync(tmp_path / "syncs", d)
        for env, value in sb.credentials(cfg).items():
            monkeypatch.setenv(env, value)
        sb.inject("no_results", times=1000)
        with pytest.raises(SyncFailed, match="every row sent .* was rejected") as exc:
            run_sync(cfg, con=con)
        res = exc.value.result
        assert res.acked == 0 and res.rejected == res.to_send > 0
        assert sb.stats["fault_no_results"] >= 1
        msgs = {m for (m,) in con.execute("SELECT DISTINCT last_error FROM outflow_sync.sync_rejected_rows").fetchall()}
        assert msgs and all("not confirmed" in m or m.startswith("unconfirmed") for m in msgs), msgs
        assert con.execute("SELECT count(*) FROM outflow_sync.sync_state").fetchone() == (0,)

        sb.faults.queue.clear()  # the vendor answers properly again: the next run sends every row
        again = run_sync(cfg, con=con)
        assert (again.status, again.acked) == ("success", res.to_send)
