"""``outflow sandbox`` machinery: every sandbox starts on 127.0.0.1 and answers; a taken port is one line."""

from __future__ import annotations

import socket

import httpx
from typer.testing import CliRunner

from activations.destinations import DESTINATIONS
from activations.sandboxes import start_all, vendor_sandboxes
from activations.sandboxes.testing import make_secret
from outflow.cli import app


def test_every_destination_has_a_sandbox_and_all_start() -> None:
    assert set(vendor_sandboxes()) | {"webhook"} <= set(DESTINATIONS)
    running = start_all(token="t", webhook_secret=make_secret())
    try:
        assert set(running) == set(vendor_sandboxes()) | {"webhook"}
        for kind, sb in running.items():
            assert sb.url.startswith("http://127.0.0.1:")
            r = httpx.get(f"{sb.url}/_sandbox/stats", timeout=2)
            assert r.status_code == 200, kind
    finally:
        for sb in running.values():
            sb.stop()


def test_cli_port_taken_is_one_clear_line() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        out = CliRunner().invoke(app, ["sandbox", "--port-base", str(port)])
    finally:
        s.close()
    assert out.exit_code == 1
    assert f"cannot start the sandboxes from port {port}" in out.stderr and "Traceback" not in out.stderr


def test_example_syncs_are_valid_and_match_sandbox_ports() -> None:
    from pathlib import Path

    from activations.config import load_syncs

    examples = load_syncs(Path(__file__).resolve().parents[3] / "activations" / "sandboxes" / "examples")
    kinds = {c.destination.type for c in examples}
    assert kinds == set(DESTINATIONS) - {"webhook"}
    order = ["webhook", *vendor_sandboxes()]  # `outflow sandbox` gives ports in this order from 8790
    for c in examples:
        if c.destination.type != "file":
            port = 8790 + order.index(c.destination.type)
            assert c.destination.base_url.startswith(f"http://127.0.0.1:{port}"), c.name
