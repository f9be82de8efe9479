"""The gate the sync engine calls before every sync.

    from data_quality.gate import preflight
    failures = preflight(con, "sync_newsletter")
    if failures: refuse the sync and show them

It runs the activation suite of the model (valid contact points for the channel, consent, erasures,
row-count change) and returns the blocking failures as one line each, without personal data; the
failed rows are sampled into ``outflow_quality.failed_rows``. An empty list means the sync may go.
"""

from __future__ import annotations

import datetime as dt
import logging

from data_quality.config import QualityConfig
from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)


def preflight(
    con: Warehouse,
    source_model: str,
    *,
    config: QualityConfig | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Blocking failures of the activation model's checks; empty means the sync may run."""
    from data_quality.runner import run_checks

    model = source_model.removeprefix("main.")
    run = run_checks(con, model, config=config, now=now, report=False)
    failures = [r.summary() for r in run.blocking_failures]
    if failures:
        log.error("data quality gate refuses %s: %d blocking failure(s)", model, len(failures))
    else:
        log.info("data quality gate passes %s (%d checks)", model, len(run.results))
    return failures
