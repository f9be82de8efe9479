"""`outflow sync test`: every destination's connection and credentials are checked against its sandbox with the
vendor's own cheap authenticated read, and nothing is sent; a wrong token is one line naming the variable."""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from typer.testing import CliRunner

from activations.config import load_syncs
from activations.sandboxes import start_all
from activations.sandboxes.testing import make_secret
from outflow.cli import app

EXAMPLES = Path(__file__).resolve().parents[3] / "activations" / "sandboxes" / "examples"
NO_READ = {"braze", "google_data_manager"}  # the vendor has no read for these credentials


@pytest.fixture
def syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    running = start_all(token="sandbox-token", webhook_secret=make_secret())
    folder = tmp_path / "syncs"
    folder.mkdir()
    try:
        for cfg in load_syncs(EXAMPLES):
            kind = cfg.destination.type
            doc = yaml.safe_load(Path(cfg.path).read_text())
            if kind in running:
                base = urlsplit(cfg.destination.base_url)
                local = urlsplit(running[kind].url).netloc
                doc["destination"]["base_url"] = urlunsplit(base._replace(netloc=local))
                for name, value in running[kind].credentials(cfg).items():
                    monkeypatch.setenv(name, value)
            else:
                doc["destination"]["base_url"] = (tmp_path / "exports").as_uri()
            (folder / f"{cfg.name}.yml").write_text(yaml.safe_dump(doc))
        yield folder, running
    finally:
        for sb in running.values():
            sb.stop()


def test_every_destination_is_checked_without_sending(syncs) -> None:
    folder, running = syncs
    out = CliRunner().invoke(app, ["sync", "test", "--all", "--dir", str(folder)])
    assert out.exit_code == 0, out.output
    lines = {line.split()[2].rstrip(":"): line for line in out.stdout.splitlines() if line.startswith("ok sync ")}
    for kind in set(running) - {"webhook"} - NO_READ:
        line = lines[f"example_{kind}"]
        assert "accepted the credentials" in line and "HTTP 200" in line, line
    for kind in NO_READ:
        assert "is reachable" in lines[f"example_{kind}"]
    for kind, sb in running.items():  # reads only: one GET each, nothing sent
        if kind != "webhook":
            assert {r["method"] for r in sb.recorded()} <= {"GET"}, (kind, sb.recorded())
            assert len(sb.recorded()) <= 1, (kind, sb.recorded())


def test_a_wrong_token_is_one_line_naming_the_variable(syncs, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = syncs
    monkeypatch.setenv("MAILCHIMP_API_KEY", "wrong-key-123")
    out = CliRunner().invoke(app, ["sync", "test", "example_mailchimp", "--dir", str(folder)])
    assert out.exit_code == 1
    assert "mailchimp refused the credentials in MAILCHIMP_API_KEY (HTTP 401 on GET" in out.stderr
    assert "wrong-key-123" not in out.output + out.stderr  # the secret is never printed
