"""Campaign lift end to end: the generator plants a known effect (+50 points on a 10% base) for one audience after its
members were
assigned, the warehouse is rebuilt two weeks later, and `outflow report lift` recovers the effect within its 95%
interval, while a campaign with no planted effect shows none; the HTML report renders in headless Chromium with
data in every chart."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from outflow.cli import app
from outflow.generate import plant_campaign_outcomes
from outflow.lift import lift_stats, minimum_detectable_effect
from outflow.warehouse import connect
from tests.integration.segments.conftest import copy_warehouse

TRUE_LIFT = 0.50
BASE_RATE = 0.10
WINDOW = 14


@pytest.fixture(scope="module")
def lift_run(built_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("lift")
    path = tmp / "outflow.duckdb"
    copy_warehouse(built_warehouse, path)
    with connect(path) as con:
        sizes = con.fetch_polars(
            "select audience, count(*) filter (where measurement_group <> 'treatment') as held, count(*) as n "
            "from main.audience_exposure_history group by audience order by held desc, audience"
        )
        campaign = sizes["audience"][0]
        members = con.fetch_polars(
            "select p.email, case when h.measurement_group = 'treatment' then 'treated' else 'holdout' end as arm, "
            "h.entered_at as exposed_at from main.audience_exposure_history h join main.dim_profiles p "
            "using (person_id) where h.audience = ? and p.email is not null order by p.email",
            [campaign],
        )
        orders = plant_campaign_outcomes(
            members, campaign=campaign, window_days=WINDOW, base_rate=BASE_RATE, true_lift=TRUE_LIFT, seed=7
        )
        con.write_arrow("raw.orders", orders, mode="append")
    runner = CliRunner()
    env = {"OUTFLOW_WAREHOUSE": str(path), "OUTFLOW_AS_OF": ""}
    build = runner.invoke(app, ["build", "--as-of", "2026-11-16"], env=env)
    assert build.exit_code == 0, build.output
    out = tmp / "lift.html"
    report = runner.invoke(app, ["report", "lift", "--out", str(out)], env=env)
    assert report.exit_code == 0, report.output
    with connect(path, read_only=True) as con:
        lift = con.fetch_polars("select * from main.fct_campaign_lift")
        daily = con.fetch_polars("select * from main.fct_campaign_lift_daily")
    return {"campaign": campaign, "lift": lift, "daily": daily, "html": out, "output": report.output, "sizes": sizes}


@pytest.mark.slow  # a real dbt build of the demo warehouse (about a minute)
def test_report_recovers_the_planted_effect(lift_run: dict) -> None:
    lift = lift_run["lift"]
    row = lift.filter(pl.col("campaign") == lift_run["campaign"]).row(0, named=True)
    assert row["treated"] > 50 and row["holdout"] > 20, row
    assert row["abs_lift_low"] <= TRUE_LIFT <= row["abs_lift_high"]
    assert row["abs_lift_low"] > 0  # and it is told apart from no effect
    assert row["rel_lift_low"] <= TRUE_LIFT / BASE_RATE <= row["rel_lift_high"]
    assert row["incremental_conversions"] == pytest.approx(row["abs_lift"] * row["treated"])
    assert row["incremental_revenue"] > 0
    assert row["note"] == "significant at the 5% level"
    assert row["window_days"] == WINDOW
    # the other campaigns had no planted orders: no effect, and no conversions to compare
    others = lift.filter(pl.col("campaign") != lift_run["campaign"])
    assert others.height >= 1
    for other in others.iter_rows(named=True):
        assert other["abs_lift_low"] <= 0 <= other["abs_lift_high"] or other["treated_conversions"] == 0
    # over time: the cumulative lift grows to the final one on the last day
    days = lift_run["daily"].filter(pl.col("campaign") == lift_run["campaign"]).sort("day")
    assert days["day"].to_list() == list(range(1, WINDOW + 1))
    assert days["abs_lift"][-1] == pytest.approx(row["abs_lift"])
    assert days["treated_conversions"].is_sorted()
    assert "as of 2026-11-16 (end of day)" in lift_run["output"] and "report:" in lift_run["output"]


def test_small_groups_get_a_minimum_detectable_effect_note() -> None:
    small = lift_stats(40, 6, 10, 1)
    assert small["note"].startswith("too small to tell") and small["mde_abs"] > 0.25
    assert minimum_detectable_effect(0.1, 10_000, 10_000) < 0.02
    none = lift_stats(50, 0, 50, 0)
    assert none["note"].startswith("no conversions")


def test_no_closed_window_yet_is_an_empty_report(tmp_path: Path) -> None:
    from outflow.report.lift import write_lift_report

    page = write_lift_report(pl.DataFrame(), pl.DataFrame(), tmp_path / "empty.html").read_text()
    assert "No campaign with a holdout has a closed window yet." in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_html_report_renders_with_data_in_every_chart(lift_run: dict) -> None:
    page = lift_run["html"].read_text()
    # plotly.js is inlined (no script or stylesheet is fetched): the page works offline
    assert not re.search(r"<script[^>]*\ssrc=", page) and not re.search(r"<link[^>]*\shref=", page)
    assert "Plotly.newPlot" in page and len(page) > 1_000_000
    dom = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--virtual-time-budget=10000", "--dump-dom", lift_run["html"].as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    sections = re.findall(r'<section class="lift-chart" data-campaign="([^"]+)">(.*?)</section>', dom, re.S)
    assert len(sections) == lift_run["lift"].height >= 2
    for campaign, body in sections:
        assert "main-svg" in body, f"{campaign}: the chart did not render"
        # the lift is drawn with one marker per day since exposure, and the interval band as a filled area
        points = body.count('class="point"')
        assert points == WINDOW, f"{campaign}: the chart has {points} data points, not {WINDOW}"
        assert 'class="js-fill"' in body, f"{campaign}: the chart has no interval band"
