"""`outflow sync run`'s progress on a terminal: a live bar per sync with rows sent of those planned, rejected rows
and retries (the piped form, lines on stderr, is tested through the real command in test_sync_cli_ops.py)."""

import io

from rich.console import Console

from activations.engine import SyncResult
from activations.progress import sync_progress


def test_a_terminal_shows_a_bar_per_sync() -> None:
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=150, color_system=None)
    with sync_progress(terminal) as on_progress:
        for name in ("hot_leads_email", "vip_sendgrid"):
            for done in (0, 200, 500):
                rejected = 3 if done else 0  # rows done: acknowledged and rejected
                on_progress(SyncResult("r1", name, to_send=500, acked=done - rejected, rejected=rejected, retries=1))
    text = out.getvalue()
    assert "sync hot_leads_email" in text and "sync vip_sendgrid" in text
    assert "500/500 rows" in text and "rows/s" in text and "rejected 3" in text and "retries 1" in text
    assert "━" in text  # the bar itself


def test_a_pipe_gets_lines_not_a_bar(capsys) -> None:
    piped = Console(file=io.StringIO(), force_terminal=False)
    with sync_progress(piped) as on_progress:
        on_progress(SyncResult("r1", "vip_sendgrid", to_send=10, acked=10))
    assert piped.file.getvalue() == ""  # type: ignore[attr-defined]
    assert "sync vip_sendgrid: 10/10 rows sent (0 rejected, 0 retries" in capsys.readouterr().err
