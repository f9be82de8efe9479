"""Every vendor destination: the secret comes from the env var the YAML names and appears nowhere else —
not in logs (DEBUG, httpx included), errors, the run log, rejected rows or the recorded request URLs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from activations.engine import SyncFailed, run_sync
from activations.sandboxes import vendor_sandboxes
from activations.sandboxes.testing import VENDOR_PLANS, make_triggers, vendor_sync_dict, write_sync

GOOD = "tok-GOOD-5ecret-value-123"
BAD = "tok-BAD-5ecret-value-456"
ENV = "OUTFLOW_TEST_SECRET_TOKEN"


@pytest.mark.parametrize("kind", sorted(VENDOR_PLANS))
def test_secret_never_leaks(kind: str, tmp_path: Path, con, monkeypatch, caplog) -> None:
    make_triggers(con, rows=30)
    con.execute("DELETE FROM main.sync_contacts WHERE person_id >= 30")
    plan = VENDOR_PLANS[kind]
    monkeypatch.setenv("OUTFLOW_GOOGLE_DEV_TOKEN", "sandbox-dev-token")
    wrap = (lambda t: f"site:{t}") if kind == "customerio" else (lambda t: t)
    caplog.set_level(logging.DEBUG)
    with vendor_sandboxes()[kind](token=GOOD) as sb:
        d = vendor_sync_dict(
            kind, sb.url + plan.get("suffix", ""), mode=plan.get("mode", "mirror"),
            primary_key=plan.get("primary_key", "email"), fields=plan.get("fields"), options=plan["options"],
            obj=plan.get("obj", "contacts"), secret_env=ENV, source=plan.get("source", "sync_contacts"),
        )  # fmt: skip
        cfg = write_sync(tmp_path / "syncs", d)
        monkeypatch.delenv(ENV, raising=False)
        with pytest.raises(Exception, match=f"environment variable {ENV} is not set"):
            run_sync(cfg, con=con)
        monkeypatch.setenv(ENV, wrap(GOOD))
        assert run_sync(cfg, con=con).acked == 30
        monkeypatch.setenv(ENV, wrap(BAD))
        con.execute("UPDATE main.sync_contacts SET first_name = 'x'")
        con.execute("INSERT INTO main.trg_welcome VALUES ('welcome-999', 999, 'z@example.com', 'welcome')")
        with pytest.raises(SyncFailed, match="refused the credentials") as exc:
            run_sync(cfg, con=con, force=True)
        urls = " ".join(r["path"] + str(r["query"]) for r in sb.recorded())
    dumped = " ".join(
        str(row) for t in ("sync_runs", "sync_row_log", "sync_rejected_rows")
        for row in con.execute(f"SELECT * FROM outflow_sync.{t}").fetchall()
    )  # fmt: skip
    for secret in (GOOD, BAD):
        assert secret not in caplog.text
        assert secret not in str(exc.value)
        assert secret not in dumped
        assert secret not in urls
    assert ENV in str(exc.value)  # the error names the variable, not its value
