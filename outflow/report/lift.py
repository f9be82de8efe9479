"""`outflow report lift`: one self-contained HTML page, one chart per campaign (cumulative lift by day since
exposure with its 95% interval), and the summary table. plotly.js is inlined, so the page works offline."""

from __future__ import annotations

import html
import math
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from outflow.asof import describe_moment

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Outflow campaign lift</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 2rem; }}
td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }}
td:first-child, th:first-child, td.note {{ text-align: left; }}
.lift-chart {{ margin-bottom: 2rem; }}
</style></head><body>
<h1>Campaign lift</h1>
<p>Treated versus holdout: the share of people who ordered within {window} days after their first exposure.
Absolute lift in percentage points with its 95% interval (Newcombe); relative lift with its 95% interval (log).
Measured as of {as_of}.</p>
{table}
{charts}
</body></html>
"""


def _pct(value: float, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}"


def _table(lift: pl.DataFrame) -> str:
    head = (
        "<tr><th>campaign</th><th>type</th><th>treated</th><th>holdout</th>"
        "<th>treated rate %</th><th>holdout rate %</th>"
        "<th>abs. lift (pts) [95% CI]</th><th>rel. lift % [95% CI]</th><th>incremental conversions</th>"
        "<th>incremental revenue</th><th>MDE (pts)</th><th>note</th></tr>"
    )
    rows = []
    for r in lift.iter_rows(named=True):
        rows.append(
            f"<tr><td>{html.escape(r['campaign'])}</td><td>{html.escape(r['campaign_type'])}</td><td>{r['treated']:,}</td><td>{r['holdout']:,}</td>"
            f"<td>{_pct(r['treated_rate'])}</td><td>{_pct(r['holdout_rate'])}</td>"
            f"<td>{_pct(r['abs_lift'])} [{_pct(r['abs_lift_low'])}, {_pct(r['abs_lift_high'])}]</td>"
            f"<td>{_pct(r['rel_lift'], 0)} [{_pct(r['rel_lift_low'], 0)}, {_pct(r['rel_lift_high'], 0)}]</td>"
            f"<td>{r['incremental_conversions']:,.1f}</td><td>{r['incremental_revenue']:,.2f}</td>"
            f'<td>{_pct(r["mde_abs"])}</td><td class="note">{html.escape(r["note"])}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _chart(campaign: str, kind: str, days: pl.DataFrame) -> go.Figure:
    x = days["day"].to_list()
    low = [100 * v for v in days["abs_lift_low"].fill_nan(0.0).to_list()]
    high = [100 * v for v in days["abs_lift_high"].fill_nan(0.0).to_list()]
    mid = [100 * v for v in days["abs_lift"].fill_nan(0.0).to_list()]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor="rgba(31,119,180,0.2)",
            name="95% interval",
        )
    )  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=mid, mode="lines+markers", name="absolute lift", line={"color": "#1f77b4"}))
    fig.add_hline(y=0, line={"color": "#888", "dash": "dot"})
    fig.update_layout(
        title=f"{campaign} ({kind}): cumulative lift by day since exposure",
        xaxis_title="days since exposure",
        yaxis_title="lift (percentage points)",
        height=360,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return fig


def write_lift_report(lift: pl.DataFrame, daily: pl.DataFrame, out: Path) -> Path:
    """Write the page to `out` (its folder is created) and return the path."""
    charts = []
    rows = lift.select("campaign_type", "campaign").iter_rows() if lift.height else []
    for i, (kind, campaign) in enumerate(rows):
        mine = daily.filter((pl.col("campaign_type") == kind) & (pl.col("campaign") == campaign))
        fig = _chart(campaign, kind, mine.sort("day"))
        div = fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i}")
        charts.append(f'<section class="lift-chart" data-campaign="{html.escape(campaign)}">{div}</section>')
    as_of = lift["measured_as_of"].max() if lift.height else None
    page = PAGE.format(
        window=int(lift["window_days"].max()) if lift.height else 0,
        as_of=describe_moment(as_of) if as_of else "—",
        table=_table(lift) if lift.height else "<p>No campaign with a holdout has a closed window yet.</p>",
        charts="\n".join(charts),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
