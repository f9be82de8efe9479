"""`outflow report`: the static site opened in Debian's headless chromium (it loads offline, every chart has data,
a person page shows that person's syncs), and `outflow audience export` / `outflow person explain` giving the same
facts on the command line."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from activations.sandboxes.testing import make_secret
from activations.sandboxes.webhook import WebhookSandbox
from outflow.warehouse import connect

OUTFLOW = str(Path(sys.executable).with_name("outflow"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SYNC = "hot_leads_webhook"
AUDIENCE = "hot_leads_email"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([OUTFLOW, *args], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def _dom(page: Path) -> str:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def site(built_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("report")
    warehouse = root / "outflow.duckdb"
    with connect(built_warehouse) as src:
        src.execute("checkpoint")
    shutil.copy(built_warehouse, warehouse)
    secret = make_secret()
    with WebhookSandbox(secret) as sandbox:
        syncs = root / "syncs"
        syncs.mkdir()
        text = (Path("activations/syncs") / f"{SYNC}.yml").read_text()
        (syncs / f"{SYNC}.yml").write_text(text.replace("http://127.0.0.1:8790", sandbox.url))
        env = {**os.environ, "OUTFLOW_WAREHOUSE": str(warehouse), "OUTFLOW_TARGET": "duckdb",
               "OUTFLOW_SYNCS_DIR": str(syncs), "OUTFLOW_WEBHOOK_SECRET": secret}  # fmt: skip
        _cli(env, "score", "train")
        _cli(env, "score", "run")
        _cli(env, "sync", "run", SYNC)
    _cli(env, "report", "--out", str(root / "site"), "--max-people", "40")
    log = json.loads(_cli(env, "sync", "log", SYNC, "--limit", "1", "--output", "json").stdout)
    person = log[0]["rows"][0]["key"]
    return {"env": env, "dir": root / "site", "person": person}


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_site_loads_offline_and_every_chart_has_data(site: dict) -> None:
    index = site["dir"] / "index.html"
    page = index.read_text()
    # the only script it loads is plotly's, written beside the pages: it works offline
    assert re.findall(r"<script[^>]*\ssrc=\"([^\"]+)\"", page) == ["plotly.min.js"]
    assert (site["dir"] / "plotly.min.js").stat().st_size > 1_000_000
    dom = _dom(index)
    charts = re.findall(r'<section class="chart" data-chart="([^"]+)">(.*?)</section>', dom, re.S)
    names = {name for name, _ in charts}
    assert {"audience-sizes", "sync-health", "lead_score-distribution", "lead_score-roc", "lead_score-lift",
            "lead_score-calibration"} <= names  # fmt: skip
    for name, body in charts:
        assert "main-svg" in body, f"{name}: the chart did not render"
        drawn = body.count('class="point"') + body.count('class="bars"') + body.count('class="js-line"')
        assert drawn > 0, f"{name}: the chart has no data"
    assert SYNC in dom


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_person_page_shows_their_syncs(site: dict) -> None:
    page = site["dir"] / "people" / f"{site['person']}.html"
    dom = _dom(page)
    (deliveries,) = re.findall(r'<div class="deliveries">(.*?)</div>', dom, re.S)
    assert SYNC in deliveries and "webhook" in deliveries and "ok" in deliveries
    assert "Consent per channel" in dom and "Scores" in dom


@pytest.mark.slow
def test_the_command_line_gives_the_same_facts(site: dict) -> None:
    exported = _cli(site["env"], "audience", "export", AUDIENCE, "--csv").stdout
    assert exported == (site["dir"] / "audiences" / f"{AUDIENCE}.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows and site["person"] in {r["person_id"] for r in rows}
    explained = json.loads(_cli(site["env"], "person", "explain", site["person"], "--output", "json").stdout)
    sent = next(t for t in explained if t["title"] == "What was sent where and when")
    assert {r["sync_name"] for r in sent["rows"]} == {SYNC}
