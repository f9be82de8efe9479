"""`outflow report`: a static HTML site a marketer can read offline (open index.html; no server): audience sizes
over time, members after consent and holdout (searchable, with a CSV), each sync's health with the reasons rows
were rejected or set aside, each model's charts, and a page per person. Facts from ``outflow.report.facts``;
charts with plotly, its script written once beside the pages."""

from __future__ import annotations

import html
import re
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs

from activations.rows import people_held, people_log, state_for_reading
from outflow.report import facts
from outflow.warehouse import Warehouse

STYLE = """body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 80rem; }
table { border-collapse: collapse; margin-bottom: 1.5rem; } td, th { border: 1px solid #ccc; padding: .25rem .5rem; }
th { background: #f3f3f3; text-align: left; } .chart { margin-bottom: 1.5rem; } nav a { margin-right: 1rem; }
input[type=search] { padding: .3rem; width: 20rem; margin-bottom: .5rem; }"""
SEARCH = """<script>function filterRows(input, id) { const q = input.value.toLowerCase();
for (const tr of document.getElementById(id).tBodies[0].rows) {
  tr.style.display = tr.textContent.toLowerCase().includes(q) ? "" : "none"; } }</script>"""


def _page(title: str, body: str, depth: int = 0) -> str:
    up = "../" * depth
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<style>{STYLE}</style><script src="{up}plotly.min.js"></script>{SEARCH}</head><body>'
        f'<nav><a href="{up}index.html">Outflow report</a></nav><h1>{html.escape(title)}</h1>{body}</body></html>'
    )


def _chart(fig: go.Figure, name: str) -> str:
    fig.update_layout(height=340, margin={"l": 50, "r": 20, "t": 50, "b": 40})
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{name}")
    return f'<section class="chart" data-chart="{html.escape(name)}">{div}</section>'


def _table(df: pl.DataFrame, table_id: str = "", links: dict[str, str] | None = None) -> str:
    """A frame as an HTML table; ``links``: column -> URL pattern with {} for the cell."""
    links = links or {}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = []
    for row in df.iter_rows(named=True):
        cells = []
        for col, value in row.items():
            cell = html.escape(facts.text(value))
            if col in links and value is not None:
                cell = f'<a href="{links[col].format(_slug(str(value)))}">{cell}</a>'
            cells.append(f"<td>{cell}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value)


def _audience_sizes(sizes: pl.DataFrame) -> str:
    fig = go.Figure()
    for (audience,), part in sizes.group_by("audience", maintain_order=True):
        fig.add_trace(go.Scatter(x=part["day"].to_list(), y=part["members"].to_list(), mode="lines+markers",
                                 name=str(audience), line={"shape": "hv"}))  # fmt: skip
    fig.update_layout(title="Audience members over time (treated; after consent and holdout)", yaxis_title="people")
    return _chart(fig, "audience-sizes")


def _sync_health(latest: pl.DataFrame, reasons: pl.DataFrame) -> str:
    if not latest.height:
        return "<p>No sync has run yet: <code>outflow sync run --all</code>.</p>"
    fig = go.Figure()
    names = latest["sync_name"].to_list()
    for col, colour in (("acked", "#2ca02c"), ("rejected", "#d62728"), ("invalid", "#ff7f0e"), ("deferred", "#1f77b4")):
        fig.add_trace(go.Bar(x=names, y=latest[col].fill_null(0).to_list(), name=col, marker_color=colour))
    fig.update_layout(title="Rows of each sync's latest run", barmode="group")
    why = _table(reasons, "sync-reasons") if reasons.height else "<p>No row rejected, set aside or deferred.</p>"
    return (
        _chart(fig, "sync-health")
        + _table(latest, "sync-runs")
        + "<h3>Why rows were rejected (by the destination), set aside (invalid, no consent, erased) or deferred "
        "(held back by the destination for a later run, such as quiet hours)</h3>" + why
    )


def _model(m: facts.ModelReport) -> str:
    name = _slug(m.name)
    charts = []
    if m.scores:
        fig = go.Figure(go.Histogram(x=m.scores, nbinsx=20, name="people"))
        fig.update_layout(title=f"{m.name}: score distribution (current scores)", xaxis_title="score")
        charts.append(_chart(fig, f"{name}-distribution"))
    roc = m.metrics.get("model", {}).get("roc_curve")
    if roc:
        fig = go.Figure(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines+markers", name="model"))
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot"}, name="chance"))
        fig.update_layout(title=f"{m.name}: ROC on the holdout (AUC {m.metrics['model'].get('roc_auc', 0):.3f})",
                          xaxis_title="false-positive rate", yaxis_title="true-positive rate")  # fmt: skip
        charts.append(_chart(fig, f"{name}-roc"))
    lift = m.metrics.get("model", {}).get("decile_lift")
    if lift:
        fig = go.Figure(go.Bar(x=list(range(1, len(lift) + 1)), y=lift, name="lift"))
        fig.update_layout(title=f"{m.name}: lift by score decile (1 = highest scores)", xaxis_title="decile",
                          yaxis_title="positive rate / base rate")  # fmt: skip
        charts.append(_chart(fig, f"{name}-lift"))
    cal = m.metrics.get("calibration")
    if cal:
        fig = go.Figure(go.Scatter(x=[c["mean_predicted"] for c in cal], y=[c["observed_rate"] for c in cal],
                                   mode="lines+markers", name="model"))  # fmt: skip
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot"}, name="perfect"))
        fig.update_layout(title=f"{m.name}: calibration on the holdout", xaxis_title="predicted",
                          yaxis_title="observed")  # fmt: skip
        charts.append(_chart(fig, f"{name}-calibration"))
    if not (roc and lift):
        charts.append(f"<p>{html.escape(m.name)}: ROC and lift appear after the next training.</p>")
    return f"<h3>{html.escape(m.name)} (version {html.escape(m.version)})</h3>" + "".join(charts)


def person_page(p: facts.Person) -> str:
    prof = {k: v for k, v in p.profile.items() if k in ("email", "phone", "first_name", "last_name", "company",
                                                          "country", "first_seen_at", "last_seen_at")}  # fmt: skip
    parts = [
        _table(pl.DataFrame([{k: facts.text(v) for k, v in prof.items()}])),
        "<h2>Segments</h2>" + (_table(p.segments) if p.segments.height else "<p>In no segment.</p>"),
        "<h2>Audiences (group: treatment is sent; holdout and control are not)</h2>"
        + (_table(p.audiences) if p.audiences.height else "<p>In no audience.</p>"),
        "<h2>Consent per channel</h2>" + (_table(p.consent) if p.consent.height else "<p>No consent recorded.</p>"),
    ]
    if p.scores:
        codes = "".join(f"<li>{html.escape(c)}</li>" for c in facts.reason_codes(p.scores.get("reason_codes")))
        shown = {k: facts.text(v) for k, v in p.scores.items() if k != "reason_codes"}
        parts.append("<h2>Scores</h2>" + _table(pl.DataFrame([shown])) + f"<p>Reason codes:</p><ul>{codes}</ul>")
    parts.append(
        '<h2>What was sent where and when</h2><div class="deliveries">'
        + (_table(p.deliveries) if p.deliveries.height else "<p>Nothing sent yet.</p>")
        + '</div><h2>Held back now (rejected, set aside or deferred), and why</h2><div class="held">'
        + (_table(p.held) if p.held.height else "<p>Nothing held back.</p>")
        + "</div>"
    )
    return _page(f"Person {p.person_id}", "".join(parts), depth=1)


def write_site(con: Warehouse, out: Path, max_people: int = 1000) -> Path:
    """Write the site into ``out`` (created) and return its index.html."""
    (out / "audiences").mkdir(parents=True, exist_ok=True)
    (out / "people").mkdir(exist_ok=True)
    (out / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    people: set[str] = set()
    links = []
    for audience in facts.audiences(con):
        members = facts.audience_members(con, audience)
        slug = _slug(audience)
        members.write_csv(out / "audiences" / f"{slug}.csv")
        people |= set(members["person_id"].head(max_people).to_list())
        body = (
            f'<p>{members.height:,} people (after consent, exclusions and holdout). <a href="{slug}.csv" download>'
            f'Export as CSV</a></p><input type="search" placeholder="search" '
            f"oninput=\"filterRows(this, 'members')\">" + _table(members, "members", {"person_id": "../people/{}.html"})
        )
        (out / "audiences" / f"{slug}.html").write_text(_page(f"Audience {audience}", body, 1), encoding="utf-8")
        links.append(f'<li><a href="audiences/{slug}.html">{html.escape(audience)}</a> ({members.height:,})</li>')
    latest, reasons = facts.sync_health(con)
    q_people = [p for p in _sent_people(con) if p not in people]
    people |= set(q_people[: max(0, max_people - len(people))])
    chosen = sorted(people)[: max(max_people, 1)]
    q = state_for_reading(con)
    log, held = people_log(con, q, chosen), people_held(con, q, chosen)
    for pid in chosen:
        mine = pl.col("person_id") == pid
        page = person_page(facts.person(con, pid, log.filter(mine), held.filter(mine)))
        (out / "people" / f"{_slug(pid)}.html").write_text(page, encoding="utf-8")
    models = facts.model_reports(con)
    index = (
        "<h2>Audiences</h2>"
        + _audience_sizes(facts.audience_sizes(con))
        + f"<ul>{''.join(links)}</ul>"
        + "<h2>Syncs</h2>"
        + _sync_health(latest, reasons)
        + "<h2>Models</h2>"
        + ("".join(_model(m) for m in models) or "<p>No model trained yet: <code>outflow score train</code>.</p>")
        + '<h2>People</h2><p>Open a person from an audience\'s member list, or go to <input type="search" '
        'id="person" placeholder="person id"> <button onclick="location.href=\'people/\'+'
        "document.getElementById('person').value+'.html'\">open</button></p>"
    )
    path = out / "index.html"
    path.write_text(_page("Outflow report", index), encoding="utf-8")
    return path


def _sent_people(con: Warehouse) -> list[str]:
    q = state_for_reading(con)
    if q is None:
        return []
    return [
        r[0]
        for r in con.execute(f"SELECT DISTINCT person_id FROM {q}.sync_sent WHERE person_id IS NOT NULL").fetchall()
    ]
