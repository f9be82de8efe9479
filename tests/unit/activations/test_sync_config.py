from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from activations.config import load_sync, load_syncs
from activations.sandboxes.testing import sync_dict, write_sync
from outflow.cli import app
from outflow.errors import OutflowError

EXAMPLES = Path(__file__).resolve().parents[3] / "activations" / "examples"


def _write(tmp_path: Path, d: dict, name: str = "s.yml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d))
    return p


def test_examples_are_valid() -> None:
    syncs = load_syncs(EXAMPLES)
    assert {s.name for s in syncs} == {"hot_leads_webhook", "cart_abandoned_webhook"}
    trig = next(s for s in syncs if s.name == "cart_abandoned_webhook")
    assert trig.mode.value == "insert" and trig.is_trigger
    aud = next(s for s in syncs if s.name == "hot_leads_webhook")
    assert aud.thresholds.max_change_share == 0.20
    assert aud.checked_email_columns == ["email"]
    assert aud.destination.rate_limit is not None and aud.destination.rate_limit.requests == 20


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"mode": "sideways"}, "mode: must be one of 'upsert', 'update', 'insert' or 'mirror'"),
        ({"source": "dim_profiles"}, "source: must be a model named sync_* (audience) or trg_* (trigger)"),
        ({"schedule": "every hour"}, "schedule: must be a 5-field cron expression"),
        ({"fields": {}}, "fields: at least one field mapping is required"),
        ({"batch_size": 0}, "batch_size: Input should be greater than 0"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"thresholds": {"max_change_share": 2}}, "thresholds.max_change_share: Input should be less than"),
        ({"destination": {"type": "carrier_pigeon"}}, "destination.type: unknown destination type"),
        (
            {"destination": {"secret_env": "whsec_abc"}},
            "destination.secret_env: must be an environment variable",
        ),
        ({"mode": "insert"}, "mode: insert is for triggers"),
        ({"delivery": "sometimes"}, "delivery: must be one of 'at_least_once' or 'at_most_once'"),
        ({"run_deadline_seconds": 0}, "run_deadline_seconds: Input should be greater than 0"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, change: dict, expected: str) -> None:
    d = sync_dict("http://127.0.0.1:1")
    if "destination" in change:
        d["destination"].update(change.pop("destination"))
    d.update(change)
    path = _write(tmp_path, d)
    with pytest.raises(OutflowError) as exc:
        load_sync(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) or msg.startswith("s.yml"), msg
    assert expected in msg, msg


def test_missing_key_and_bad_yaml(tmp_path: Path) -> None:
    d = sync_dict("http://127.0.0.1:1")
    del d["primary_key"]
    with pytest.raises(OutflowError, match="primary_key: required key is missing"):
        load_sync(_write(tmp_path, d))
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(OutflowError, match="not valid YAML"):
        load_sync(bad)


def test_duplicate_names_refused(tmp_path: Path) -> None:
    d = sync_dict("http://127.0.0.1:1")
    _write(tmp_path, d, "a.yml")
    _write(tmp_path, d, "b.yml")
    with pytest.raises(OutflowError, match="already declared"):
        load_syncs(tmp_path)


def test_cli_validate_and_list(tmp_path: Path) -> None:
    runner = CliRunner()
    write_sync(tmp_path, sync_dict("http://127.0.0.1:1"))
    ok = runner.invoke(app, ["sync", "validate", "--dir", str(tmp_path)])
    assert ok.exit_code == 0 and "1 sync(s) valid" in ok.stdout
    listed = runner.invoke(app, ["sync", "list", "--dir", str(tmp_path)])
    assert listed.exit_code == 0 and "contacts_webhook" in listed.stdout
    d = sync_dict("http://127.0.0.1:1", mode="bogus")
    _write(tmp_path, d, "contacts_webhook.yml")
    bad = runner.invoke(app, ["sync", "validate", "--dir", str(tmp_path)])
    assert bad.exit_code == 1
    assert "contacts_webhook.yml: mode: must be one of" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


@pytest.mark.parametrize("kind", ["not_utf8", "directory", "bad_yaml", "tab_yaml"])
def test_unreadable_sync_files_are_one_line(tmp_path: Path, kind: str) -> None:
    syncs = tmp_path / "syncs"
    syncs.mkdir()
    bad = syncs / "broken.yml"
    if kind == "not_utf8":
        bad.write_bytes(b"name: caf\xe9\xff\n")
    elif kind == "directory":
        bad.mkdir()
    elif kind == "bad_yaml":
        bad.write_text("name: [unclosed\n  source: x\n")
    else:
        bad.write_text("name: a\n\tsource: b\n")
    for args in (["sync", "validate", "--dir", str(syncs)], ["sync", "validate", str(bad)]):
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 1, out.stdout
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "broken.yml" in lines[0] and "Traceback" not in out.stderr, out.stderr
    with pytest.raises(OutflowError):
        load_syncs(syncs)
