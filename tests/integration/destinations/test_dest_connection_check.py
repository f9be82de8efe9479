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

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "activations" / "sandboxes" / "examples"
WEBHOOK = ROOT / "activations" / "syncs" / "hot_leads_webhook.yml"  # the examples have no webhook sync
#: destinations whose check is not a read: Data Manager's validate-only ingest, the webhook's signed ping
NOT_A_READ = {"google_data_manager", "webhook"}


@pytest.fixture
def syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    running = start_all(token="sandbox-token", webhook_secret=make_secret())
    folder = tmp_path / "syncs"
    folder.mkdir()
    try:
        webhook = [c for c in load_syncs(WEBHOOK.parent) if Path(c.path or "") == WEBHOOK]
        for cfg in [*load_syncs(EXAMPLES), *webhook]:
            kind = cfg.destination.type
            doc = yaml.safe_load(Path(cfg.path).read_text())
            if kind == "webhook":
                doc["name"] = "example_webhook"
            if kind in running:
                base = urlsplit(cfg.destination.base_url)
                local = urlsplit(running[kind].url).netloc
                doc["destination"]["base_url"] = urlunsplit(base._replace(netloc=local))
                for name, value in running[kind].credentials(cfg).items():
                    monkeypatch.setenv(name, value)
            else:
                doc["destination"]["base_url"] = (tmp_path / "exports").as_uri()
            (folder / f"{doc['name']}.yml").write_text(yaml.safe_dump(doc))
        yield folder, running
    finally:
        for sb in running.values():
            sb.stop()


def test_every_destination_is_checked_without_sending(syncs) -> None:
    folder, running = syncs
    out = CliRunner().invoke(app, ["sync", "test", "--all", "--dir", str(folder)])
    assert out.exit_code == 0, out.output
    lines = {line.split()[2].rstrip(":"): line for line in out.stdout.splitlines() if line.startswith("ok sync ")}
    for kind in running:  # every destination proves its credentials, none only answers
        line = lines[f"example_{kind}"]
        assert "accepted the credentials" in line and "HTTP 200" in line, line
    for kind, sb in running.items():  # one request each, and nothing sent
        if kind == "webhook":
            stats = sb.stats
            assert stats.get("pings") == 1 and not stats.get("batches_accepted") and not stats.get("rows_applied")
            continue
        recorded = sb.recorded()
        assert len(recorded) <= 1, (kind, recorded)
        if kind not in NOT_A_READ:
            assert {r["method"] for r in recorded} <= {"GET"}, (kind, recorded)
    gdm = running["google_data_manager"]
    assert gdm.recorded()[0]["body"]["validateOnly"] is True
    assert not any(gdm.members.values()) and gdm.stats["validated_only"] == 1  # validated, nothing applied


def test_a_wrong_token_is_one_line_naming_the_variable(syncs, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = syncs
    monkeypatch.setenv("MAILCHIMP_API_KEY", "wrong-key-123")
    out = CliRunner().invoke(app, ["sync", "test", "example_mailchimp", "--dir", str(folder)])
    assert out.exit_code == 1
    assert "mailchimp refused the credentials in MAILCHIMP_API_KEY (HTTP 401 on GET" in out.stderr
    assert "wrong-key-123" not in out.output + out.stderr  # the secret is never printed


@pytest.mark.parametrize("kind", ["braze", "google_data_manager", "webhook"])
def test_a_wrong_credential_fails_in_one_line_where_the_right_one_passes(syncs, kind, monkeypatch) -> None:
    folder, running = syncs
    name = f"example_{kind}"
    (cfg,) = [c for c in load_syncs(folder) if c.name == name]
    wrong = make_secret(b"not-the-receivers-key") if kind == "webhook" else "wrong-key-123"  # well-formed
    monkeypatch.setenv(cfg.destination.secret_env, wrong)
    out = CliRunner().invoke(app, ["sync", "test", name, "--dir", str(folder)])
    assert out.exit_code == 1, out.output
    (refusal,) = out.stderr.splitlines()  # one line, nothing after it
    assert f"{kind} refused the credentials in {cfg.destination.secret_env} (HTTP 401 on" in refusal, out.stderr
    assert wrong not in out.output + out.stderr
    for var, value in running[kind].credentials(cfg).items():
        monkeypatch.setenv(var, value)
    out = CliRunner().invoke(app, ["sync", "test", name, "--dir", str(folder)])
    assert out.exit_code == 0 and "accepted the credentials" in out.stdout, out.output
