"""max_batch_bytes: batches are cut so each request body stays under the destination's byte limit, before
anything is sent (over real HTTP to a webhook sandbox that answers 413 above its limit), on each target."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activations.engine import make_destination, run_sync
from activations.sandboxes.testing import sync_dict, write_sync
from activations.sandboxes.webhook import WebhookSandbox
from outflow.errors import OutflowError
from outflow.warehouse import Warehouse

LIMIT = 6000  # a 100-row batch of the fixture audience encodes to about 14 kB


@pytest.fixture
def small_sb(secret: str) -> Iterator[WebhookSandbox]:
    with WebhookSandbox(secret, max_body_bytes=LIMIT) as sb:
        yield sb


def _model(con: Warehouse) -> dict[str, dict]:
    rows = con.execute("SELECT person_id, email, first_name, score FROM main.sync_contacts").fetchall()
    return {str(r[0]): {"email": r[1], "firstName": r[2], "score": r[3]} for r in rows}


def test_batches_split_to_fit_before_sending(tmp_path: Path, small_sb: WebhookSandbox, any_con: Warehouse) -> None:
    con = any_con
    cfg = write_sync(tmp_path / "syncs", sync_dict(small_sb.url, destination={"options": {"max_batch_bytes": LIMIT}}))
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.rejected) == ("success", 500, 0)
    assert small_sb.stats.get("too_large", 0) == 0  # no request ever went over the limit
    assert res.requests == small_sb.stats["batches_accepted"] > 5  # more, smaller requests than 5 batches of 100
    assert small_sb.records("contacts") == _model(con)
    log = con.execute("SELECT status, count(*) FROM outflow_sync.sync_row_log GROUP BY status").fetchall()
    assert log == [("ok", 500)]


def test_without_the_limit_the_receiver_refuses_oversized_bodies(
    tmp_path: Path, small_sb: WebhookSandbox, any_con: Warehouse
) -> None:
    con = any_con
    # the contrast: a sync that does not know the receiver's limit gets 413s and falls back to splitting
    res = run_sync(write_sync(tmp_path / "syncs", sync_dict(small_sb.url)), con=con)
    assert res.acked == 500 and small_sb.stats["too_large"] >= 5


def test_a_record_too_big_on_its_own_is_rejected_unsent(
    tmp_path: Path, small_sb: WebhookSandbox, any_con: Warehouse
) -> None:
    con = any_con
    con.execute(f"UPDATE main.sync_contacts SET first_name = repeat('x', {LIMIT}) WHERE person_id = 7")
    cfg = write_sync(tmp_path / "syncs", sync_dict(small_sb.url, destination={"options": {"max_batch_bytes": LIMIT}}))
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked, res.rejected) == ("partial", 499, 1)
    assert small_sb.stats.get("too_large", 0) == 0 and "7" not in small_sb.records("contacts")
    ((key, error),) = con.execute("SELECT key, last_error FROM outflow_sync.sync_rejected_rows").fetchall()
    assert key == "7" and f"the destination takes at most {LIMIT} bytes per request" in error
    logged = con.execute("SELECT status, message FROM outflow_sync.sync_row_log WHERE key = '7'").fetchall()
    assert logged[0][0] == "rejected" and "bytes" in logged[0][1]


def test_bad_limit_option_is_a_clear_error(tmp_path: Path, small_sb: WebhookSandbox) -> None:
    cfg = write_sync(tmp_path / "syncs", sync_dict(small_sb.url, destination={"options": {"max_batch_bytes": "big"}}))
    with pytest.raises(OutflowError, match=r"destination.options.max_batch_bytes: must be a positive number"):
        make_destination(cfg)
