"""The gate the sync engine runs before every sync, on every path (CLI, Python API, Dagster asset, job,
schedule): ``activations.engine`` calls both functions itself; no caller can switch them off.

- ``preflight(con, model)``: the activation suite of the model (valid contact points for the channel,
  consent, erasures, row-count change); returns the blocking failures as one line each, without personal
  data (the failed rows are sampled into ``outflow_quality.failed_rows``). Empty: the sync may go.
- ``send_filter(con, model)``: a second, independent line: SQL predicates that hold for a row whose person
  has consent for the model's channel and purpose, and whose person is erased, over the model joined to the
  consent and erasure sets (``SendFilter.source``: LEFT JOINs to distinct sets, no correlated subquery, so
  PostgreSQL plans hash joins as DuckDB does). The engine drops every row that fails them before the diff,
  whatever the quality configuration says (disabled or down-graded checks, ledger settings set to null), so a
  misconfigured suite can never let such a row out.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from data_quality.config import QualityConfig, load_config

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

#: Every erased person, from the raw requests and the erasure ledger (dbt model consent/erased_persons).
ERASED_PERSONS = "main.erased_persons"


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


@dataclass(frozen=True)
class SendFilter:
    """SQL booleans over ``source(table)`` (the model's rows, alias ``s``, joined to the ledgers' sets):
    ``consented`` (true when the row may be sent on its channel) and ``erased`` (true when its person asked
    for erasure). ``None`` parts do not apply (no ledger in the warehouse, or a transactional model for
    consent)."""

    consented: str | None
    erased: str | None
    notes: tuple[str, ...] = ()
    joins: tuple[str, ...] = ()

    def source(self, table: str) -> str:
        """``FROM`` clause: ``table`` as ``s`` with the joins the predicates read (each keeps one row per row)."""
        return " ".join([f"{table} s", *self.joins])

    @property
    def sendable(self) -> str | None:
        parts = [f"({self.consented})" if self.consented else None, f"NOT ({self.erased})" if self.erased else None]
        kept = [p for p in parts if p]
        return " AND ".join(kept) if kept else None


def send_filter(con: Warehouse, source_model: str, *, config: QualityConfig | None = None) -> SendFilter:
    """The consent and erasure predicates for ``main.<model>`` (see the module docstring).

    The ledgers are those the quality config names, else the defaults (``main.dim_consent``,
    ``main.stg_privacy__erasure_requests``): setting them to null does not switch the filter off. A ledger
    absent from the warehouse (not an Outflow dbt project) leaves that part out, with a note. A model whose
    channel cannot be told (config, dbt meta, name, or a ``channel`` column) sends nobody (fails closed).
    """
    from data_quality.dbt_rules import model_meta
    from data_quality.suites import _ledger_grant, _member_of, channel_of, erasure_match
    from data_quality.warehouse import columns

    cfg = config or load_config()
    defaults = QualityConfig()
    model = source_model.removeprefix("main.")
    relation = f"main.{model}"
    cols = columns(con, relation)
    if not columns(con, cfg.identity_table):  # no identity graph: match by the model's own email/phone only
        cols = {c: t for c, t in cols.items() if c != "person_id"}
    notes: list[str] = []
    joins: list[str] = []

    consented: str | None = None
    ledger = cfg.consent_table or defaults.consent_table or ""
    lcols = columns(con, ledger) if ledger else {}
    purpose = str(model_meta().get(model, {}).get("purpose", "")) or None
    if not lcols:
        notes.append(f"no consent ledger {ledger} in the warehouse")
    elif model in cfg.transactional_models or purpose == "transactional":
        notes.append("transactional model: consent-exempt")
    else:
        channel = channel_of(model, cols, cfg)
        if "channel" in cols and model not in cfg.channels:
            chan: str | None = "s.channel"
        else:
            chan = f"'{channel.value}'" if channel is not None else None
        if chan is None:
            consented = "false"
            notes.append("the model's channel is unknown: nobody is sent")
        else:
            if "purpose" in cols:
                purp, exempt = "s.purpose", "s.purpose = 'transactional' OR "
            else:
                purp, exempt = f"'{purpose or cfg.consent_purpose}'", ""
            granted = _ledger_grant(lcols, ledger, "s", cols, chan, purp, cfg)
            joins += granted.joins
            consented = exempt + granted.flag

    erased: str | None = None
    table = cfg.erasure_table or defaults.erasure_table or ""
    ecols = columns(con, table) if table else {}
    if not ecols:
        notes.append(f"no erasure table {table} in the warehouse")
    else:
        # a person_id-keyed table matches the model's own person_id, even without an identity graph
        has_person = "person_id" in columns(con, relation)
        by_request = erasure_match("s", cols, ecols, table, cfg, model_has_person=has_person)
        joins += by_request.joins
        erased = by_request.flag
    # erased_persons also reads the erasure ledger: it keeps suppressing a person whose raw request is gone
    if "person_id" in cols and columns(con, ERASED_PERSONS):
        by_ledger = _member_of("s", cols, "", ERASED_PERSONS, name="ep", by_person=True)
        joins += by_ledger.joins
        erased = f"({erased} OR {by_ledger.flag})" if erased else by_ledger.flag
    return SendFilter(consented, erased, tuple(notes), tuple(joins))
