"""`outflow.alerts.post_alert` against a real receiver on 127.0.0.1: a dropped connection, a 5xx or a 429 is
retried within a short budget, a 4xx is not, and the URL (a secret) is never logged."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from outflow import alerts


class Receiver:
    """Answers the queued statuses in turn (0: drop the connection unanswered), then 200."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status = receiver.answers.pop(0) if receiver.answers else 200
                if status == 0:
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/secret-token-123"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    rec = Receiver([])
    threading.Thread(target=rec.server.serve_forever, daemon=True).start()
    monkeypatch.setenv(alerts.SETTING, rec.url)
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.mark.parametrize("first", [503, 429, 0], ids=["5xx", "429", "dropped"])
def test_a_receiver_that_fails_once_then_accepts_gets_the_alert(receiver: Receiver, first: int) -> None:
    receiver.answers[:] = [first]
    assert alerts.post_alert("Outflow: sync a failed") is True
    assert [b["text"] for b in receiver.bodies] == ["Outflow: sync a failed"] * 2


def test_a_receiver_that_keeps_failing_gets_a_few_attempts_and_the_url_is_never_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answers[:] = [500] * 10
    with caplog.at_level(logging.WARNING, logger="outflow.alerts"):
        assert alerts.post_alert("Outflow: sync b failed") is False
    assert len(receiver.bodies) == alerts.ATTEMPTS
    assert "HTTP 500" in caplog.text and f"after {alerts.ATTEMPTS} attempts" in caplog.text
    assert "secret-token-123" not in caplog.text and "127.0.0.1" not in caplog.text


def test_a_refusal_is_not_retried(receiver: Receiver) -> None:
    receiver.answers[:] = [400]
    assert alerts.post_alert("Outflow: sync c failed") is False
    assert len(receiver.bodies) == 1
