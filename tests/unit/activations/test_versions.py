"""The vendor version table: retired versions fail validation (and runs), versions near their sunset warn."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activations.destinations.versions import VERSIONS, WARN_DAYS, served, version_problem
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from outflow.cli import app

DAY = dt.date(2026, 11, 26)


def test_every_default_is_served_and_not_near_its_sunset() -> None:
    for dest_type, table in VERSIONS.items():
        assert served(dest_type, table.default, DAY), dest_type
        assert version_problem(dest_type, table.default, DAY) is None, dest_type


@pytest.mark.parametrize(
    ("dest_type", "version", "level"),
    [
        ("meta_audiences", "v21.0", "error"),  # the version the Meta connector used to send
        ("meta_audiences", "v2.0", "error"),  # older than anything listed
        ("meta_audiences", "v25.0", "warning"),  # expires 2027-02-23: within 90 days
        ("salesforce", "v30.0", "error"),  # retired in Summer '25 (REST answers 410)
        ("salesforce", "v62.0", None),
        ("google_ads_customer_match", "v18", "error"),  # sunset 2025-08-20
        ("hubspot", "v1", "error"),
        ("hubspot", "v3", None),  # legacy, unsupported from September 2027
        ("klaviyo", "2024-06-15", "error"),  # a revision is retired two years after its release
        ("sendgrid", "v3", None),
    ],
)
def test_version_problems(dest_type: str, version: str, level: str | None) -> None:
    found = version_problem(dest_type, version, DAY)
    assert (found[0] if found else None) == level
    if level == "error":
        assert not served(dest_type, version, DAY) and "retired" in found[1]


def test_warning_window_is_90_days() -> None:
    sunset = VERSIONS["meta_audiences"].sunset("v25.0")
    assert version_problem("meta_audiences", "v25.0", sunset - dt.timedelta(days=WARN_DAYS + 1)) is None
    assert version_problem("meta_audiences", "v25.0", sunset - dt.timedelta(days=WARN_DAYS))[0] == "warning"
    assert version_problem("meta_audiences", "v25.0", sunset)[0] == "error"


def _sync(tmp_path: Path, name: str, dest_type: str, options: dict, fields: dict) -> None:
    d = vendor_sync_dict(dest_type, "http://127.0.0.1:1", name=name, fields=fields, options=options)
    write_sync(tmp_path, d)


def test_validate_warns_near_the_sunset_and_fails_past_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OUTFLOW_TODAY", DAY.isoformat())
    meta = {"email": "EMAIL"}
    _sync(tmp_path, "soon", "meta_audiences", {"audience_id": "1", "api_version": "v25.0"}, meta)
    ok = CliRunner().invoke(app, ["sync", "validate", "--dir", str(tmp_path)])
    assert ok.exit_code == 0 and "1 sync(s) valid" in ok.stdout
    assert "warning:" in ok.stdout and "soon.yml: destination.options.api_version" in ok.stdout
    assert "retired on 2027-02-23 (89 days)" in ok.stdout
    sf = {"person_id": "Outflow_Id__c"}
    _sync(tmp_path, "old", "salesforce", {"external_id_field": "Outflow_Id__c", "api_version": "v30.0"}, sf)
    bad = CliRunner().invoke(app, ["sync", "validate", "--dir", str(tmp_path)])
    assert bad.exit_code == 1 and "Traceback" not in bad.stderr
    line = " ".join(bad.stderr.split())
    assert "old.yml: destination.options.api_version: Salesforce Platform API v30.0 is retired" in line
