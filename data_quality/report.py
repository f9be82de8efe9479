"""The project's own HTML page for a quality run: one table per asset, failed-row samples inline."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_quality.runner import QualityRun

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f4f4f4}.passed{color:#137333}.failed{color:#c5221f;font-weight:600}
.skipped{color:#777}.error{color:#b06000;font-weight:600}.blocking{font-weight:600}
details pre{white-space:pre-wrap;font-size:.8rem;background:#fafafa;padding:.5rem}
"""


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def render(run: QualityRun) -> str:
    verdict = "BLOCKED" if run.blocking_failures else "OK"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Outflow data quality {run.run_id}</title><style>{_CSS}</style></head><body>",
        f"<h1>Data quality run {_e(run.run_id)}: {verdict}</h1>",
        f"<p>Started {_e(run.started_at.isoformat(timespec='seconds'))} UTC; data as of "
        f"{_e(run.now.isoformat(timespec='seconds'))}. {len(run.results)} checks, "
        f"{len(run.blocking_failures)} blocking failures, {len(run.warnings)} warnings.</p>",
    ]
    for asset in run.assets:
        rows = run.for_asset(asset)
        parts.append(
            f"<h2>{_e(asset)}</h2><table><tr><th>check</th><th>severity</th><th>status</th>"
            "<th>failed / rows</th><th>observed</th><th>rule</th></tr>"
        )
        for r in rows:
            counts = "" if r.failed_count is None else f"{r.failed_count} / {r.element_count}"
            detail = _e(r.description)
            if r.message:
                detail += f"<br><em>{_e(r.message)}</em>"
            if r.sample:
                detail += (
                    f"<details><summary>{len(r.sample)} sampled failed rows</summary><pre>"
                    f"{_e(json.dumps(r.sample, indent=1, default=str))}</pre></details>"
                )
            parts.append(
                f"<tr><td>{_e(r.name)}</td><td class='{r.severity.value}'>{_e(r.severity.value)}</td>"
                f"<td class='{r.status}'>{_e(r.status)}</td><td>{_e(counts)}</td>"
                f"<td>{_e(json.dumps(r.observed, default=str) if r.observed is not None else '')}</td>"
                f"<td>{detail}</td></tr>"
            )
        parts.append("</table>")
    if run.deferred_to_dbt:
        parts.append("<h2>Rules tested by dbt (not repeated here)</h2><ul>")
        parts += [f"<li>{_e(s.check_id)}: {_e(s.description)}</li>" for s in run.deferred_to_dbt]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run: QualityRun, directory: Path) -> Path:
    """Write ``<dir>/quality-<run_id>.html`` and ``<dir>/latest.html``; return the run's page."""
    directory.mkdir(parents=True, exist_ok=True)
    page = render(run)
    path = directory / f"quality-{run.run_id}.html"
    path.write_text(page)
    (directory / "latest.html").write_text(page)
    return path
