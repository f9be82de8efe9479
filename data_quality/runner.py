"""Run the suites with Great Expectations 1.x and keep the results.

One ephemeral GX context per process (GX takes seconds to import; it is imported on first use only).
Each frame of a suite is read from DuckDB into pandas and validated as one GX batch of a pandas
datasource; results come back per check with the failed count and sampled failed rows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from data_quality import fast, store
from data_quality.config import QualityConfig, Severity, load_config
from data_quality.dbt_rules import dbt_rules
from data_quality.errors import QualityError
from data_quality.suites import (
    PROFILE_ASSET,
    PROFILES_RELATION,
    CheckSpec,
    activation_suite,
    profile_suite,
    raw_suite,
)
from data_quality.warehouse import activation_models, exists, is_read_only
from outflow.contract import TABLES
from outflow.errors import OutflowError, did_you_mean
from outflow.warehouse import QueryError, Warehouse, connect

log = logging.getLogger(__name__)

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


@dataclass
class CheckResult:
    asset: str
    name: str
    severity: Severity
    status: str  # passed | failed | skipped | error
    description: str
    expectation: str
    failed_count: int | None = None
    element_count: int | None = None
    observed: Any = None
    message: str = ""
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def check_id(self) -> str:
        return f"{self.asset}:{self.name}"

    @property
    def blocks(self) -> bool:
        """A blocking check that failed, or could not run (fail closed)."""
        return self.severity == Severity.BLOCKING and self.status in (FAILED, ERROR)

    def summary(self) -> str:
        """One line, without personal data: what failed and how much."""
        if self.status == ERROR:
            return f"{self.check_id} could not run: {self.message}"
        if self.failed_count is not None and self.element_count is not None:
            return f"{self.check_id} failed: {self.failed_count} of {self.element_count} rows ({self.description})"
        obs = f" (observed {self.observed})" if self.observed is not None else ""
        return f"{self.check_id} failed: {self.description}{obs}"


@dataclass
class QualityRun:
    run_id: str
    started_at: dt.datetime
    now: dt.datetime
    assets: list[str]
    results: list[CheckResult]
    deferred_to_dbt: list[CheckSpec] = field(default_factory=list)
    report_path: Path | None = None

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocks]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.severity == Severity.WARN and r.status in (FAILED, ERROR)]

    @property
    def ok(self) -> bool:
        return not self.blocking_failures

    def for_asset(self, asset: str) -> list[CheckResult]:
        return [r for r in self.results if r.asset == asset]


# ------------------------------------------------------------------------------------ GX context

_gx_lock = threading.Lock()
_gx_state: dict[str, Any] = {}


def _gx() -> dict[str, Any]:
    """The shared ephemeral GX context and its pandas batch definition (created once per process)."""
    with _gx_lock:
        if not _gx_state:
            logging.getLogger("great_expectations").setLevel(logging.WARNING)
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig
            from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

            for name in list(logging.root.manager.loggerDict):
                if name.startswith("great_expectations"):
                    logging.getLogger(name).setLevel(logging.WARNING)
            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            source = ctx.data_sources.add_pandas("outflow_warehouse")
            batch_def = source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")
            _gx_state.update(gx=gx, context=ctx, batch_definition=batch_def, config_cls=ExpectationConfiguration)
        return _gx_state


# ---------------------------------------------------------------------------------- now and assets


def resolve_now(now: dt.datetime | None = None, con: Warehouse | None = None) -> dt.datetime:
    """The checks' "now", as a naive UTC datetime.

    The argument, else OUTFLOW_AS_OF (an ISO date or time), else the as-of date of a generated dataset
    (``raw.dataset_info``, so synthetic data is judged at its own "today"), else the clock. A date
    without a time means "data through that day": now is the end of that day.
    """
    if now is not None:
        return now.replace(tzinfo=None) if now.tzinfo is None else now.astimezone(dt.UTC).replace(tzinfo=None)
    from outflow.asof import resolve_as_of

    try:
        return resolve_as_of(None, con).at()
    except OutflowError as exc:
        raise QualityError(str(exc)) from None  # OUTFLOW_AS_OF, else the loaded dataset's date, else the clock


def _parse_as_of(text: str) -> dt.datetime:
    """The shared as-of semantics (outflow/asof.py): a date is the end of that day."""
    from outflow.asof import parse_as_of

    try:
        return parse_as_of(text)
    except OutflowError as exc:
        raise QualityError(str(exc)) from None


def available_assets(con: Warehouse) -> list[str]:
    """Every asset the warehouse holds that has a suite: raw tables, dim_profiles, sync_* models."""
    out = [f"raw.{t}" for t in TABLES if exists(con, f"raw.{t}")]
    if exists(con, PROFILES_RELATION):
        out.append(PROFILE_ASSET)
    out += activation_models(con)
    return out


def resolve_assets(con: Warehouse, selection: str | list[str] | None) -> list[str]:
    """Turn ``None``/``all``, ``raw``, ``profiles``, ``activation`` or asset names into asset names."""
    items = [selection] if isinstance(selection, str) else list(selection or ["all"])
    out: list[str] = []
    for item in items:
        sel = item.strip()
        if sel in ("all", ""):
            out += available_assets(con)
        elif sel == "raw":
            out += [a for a in available_assets(con) if a.startswith("raw.")]
        elif sel in ("profiles", PROFILE_ASSET, PROFILES_RELATION):
            if not exists(con, PROFILES_RELATION):
                raise QualityError(f"{PROFILES_RELATION} is not in the warehouse (run dbt build first)")
            out.append(PROFILE_ASSET)
        elif sel in ("activation", "sync", "syncs"):
            out += activation_models(con)
        else:
            name = sel.removeprefix("main.")
            if name.startswith("raw.") or name in TABLES:
                table = name.removeprefix("raw.")
                if table not in TABLES:
                    raise QualityError(_unknown(sel, con))
                if not exists(con, f"raw.{table}"):
                    raise QualityError(f"raw.{table} is not in the warehouse (load the raw data first)")
                out.append(f"raw.{table}")
            elif name.startswith(("sync_", "trg_")):
                if not exists(con, f"main.{name}"):
                    raise QualityError(_unknown(sel, con))
                out.append(name)
            else:
                raise QualityError(_unknown(sel, con))
    return list(dict.fromkeys(out))


def _unknown(sel: str, con: Warehouse) -> str:
    choices = ["all", "raw", "profiles", "activation", *available_assets(con)]
    return f"unknown asset '{sel}'{did_you_mean(sel, choices)}"


# ------------------------------------------------------------------------------------------- plan


def plan(
    con: Warehouse,
    assets: list[str],
    cfg: QualityConfig,
    now: dt.datetime,
) -> tuple[list[CheckSpec], list[CheckSpec]]:
    """The checks to run on ``assets`` and the ones left to dbt (a rule lives in one place)."""
    specs: list[CheckSpec] = []
    for asset in assets:
        if asset.startswith("raw."):
            specs += raw_suite(con, asset.removeprefix("raw."), cfg, now)
        elif asset == PROFILE_ASSET:
            specs += profile_suite(con, cfg)
        else:
            specs += activation_suite(con, asset, cfg, store.previous_count(con, asset))
    return apply_policy(specs, cfg)


def apply_policy(
    specs: list[CheckSpec], cfg: QualityConfig, covered: frozenset[tuple[str, str, str]] | None = None
) -> tuple[list[CheckSpec], list[CheckSpec]]:
    """Severity overrides, disabled checks, and checks dbt already covers (``covered``: dbt's rules)."""
    covered = dbt_rules() if covered is None else covered
    kept: list[CheckSpec] = []
    deferred: list[CheckSpec] = []
    for s in specs:
        if s.rule is not None and s.rule in covered:
            deferred.append(s)
            continue
        sev = cfg.severity.get(s.check_id) or cfg.severity.get(s.name)
        if sev is not None:
            s = replace(s, severity=sev)
        if s.check_id in cfg.disabled or s.name in cfg.disabled:
            s = replace(s, skip="disabled in the quality config")
        kept.append(s)
    return kept, deferred


# -------------------------------------------------------------------------------------------- run


def run_checks(
    con: Warehouse,
    selection: str | list[str] | None = None,
    *,
    config: QualityConfig | None = None,
    now: dt.datetime | None = None,
    persist: bool = True,
    report: bool = True,
) -> QualityRun:
    """Run the suites of the selected assets; keep results, failed-row samples and an HTML report.

    ``persist`` writes to schema ``outflow_quality`` (results, samples, row-count baselines) when the
    connection is writable. ``report`` writes the HTML page next to the warehouse file.
    """
    cfg = config or load_config()
    moment = resolve_now(now, con)
    assets = resolve_assets(con, selection)
    specs, deferred = plan(con, assets, cfg, moment)
    run = QualityRun(
        run_id=uuid.uuid4().hex[:12],
        started_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        now=moment,
        assets=assets,
        results=execute(con, specs, cfg),
        deferred_to_dbt=deferred,
    )
    writable = persist and not is_read_only(con)
    if persist and not writable:
        log.warning("read-only warehouse connection: quality results and row-count baselines not stored")
    if writable:
        store.save_run(con, run, cfg)
        for spec, res in zip(specs, run.results, strict=True):
            if spec.records_baseline and res.status == PASSED and res.observed is not None:
                store.record_count(con, spec.asset, int(res.observed), run.run_id)
    if report:
        from data_quality.report import write_report

        run.report_path = write_report(run, store.report_dir(con, cfg))
    for r in run.blocking_failures:
        log.info("blocking check %s", r.summary())
    for r in run.warnings:
        log.info("warn check %s", r.summary())
    return run


def execute(con: Warehouse, specs: list[CheckSpec], cfg: QualityConfig) -> list[CheckResult]:
    """Validate the specs, one batch per distinct frame; results in the order of ``specs``.

    A check that passes by the rules of data_quality/fast.py is decided on the frame's Arrow table; the others
    are validated with GX, whose context is built only when one needs it."""
    results: dict[int, CheckResult] = {}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(specs):
        if s.skip:
            results[i] = _result(s, SKIPPED, message=s.skip)
        else:
            groups[s.frame].append(i)
    for frame, idxs in groups.items():
        try:
            table = con.fetch_arrow(frame)
        except QueryError as exc:
            msg = str(exc).splitlines()[0]
            for i in idxs:
                results[i] = _result(specs[i], ERROR, message=f"could not read the data: {msg}")
            continue
        pending = []
        for i in idxs:
            fields = fast.passed(specs[i].expectation, specs[i].kwargs, table)
            if fields is None:
                pending.append(i)
            else:
                results[i] = _result(specs[i], PASSED, message="", sample=[], **fields)
        if not pending:
            continue
        idxs = pending
        state = _gx()
        df = table.to_pandas().reset_index(drop=True)
        suite = state["gx"].ExpectationSuite(name=f"outflow:{specs[idxs[0]].asset}:{abs(hash(frame)):x}")
        for i in idxs:
            s = specs[i]
            conf = state["config_cls"](type=s.expectation, kwargs=dict(s.kwargs), meta={"spec_index": i})
            exp = conf.to_domain_obj()
            exp.severity = "critical" if s.severity == Severity.BLOCKING else "warning"
            exp.meta = {"spec_index": i, "check": s.check_id}
            suite.add_expectation(exp)
        batch = state["batch_definition"].get_batch(batch_parameters={"dataframe": df})
        validation = batch.validate(
            suite,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": max(cfg.sample_rows, 1)},
        )
        for er in validation.results:
            i = int(er.expectation_config.meta["spec_index"])
            results[i] = _interpret(specs[i], er, df, cfg)
    return [results[i] for i in range(len(specs))]


def _result(spec: CheckSpec, status: str, **kw: Any) -> CheckResult:
    return CheckResult(
        asset=spec.asset,
        name=spec.name,
        severity=spec.severity,
        status=status,
        description=spec.description,
        expectation=spec.expectation,
        **kw,
    )


def _rows(df: Any, idx: list[int]) -> list[dict[str, Any]]:
    if not idx:
        return []
    return json.loads(df.iloc[idx].to_json(orient="records", date_format="iso"))


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (int, float, str, bool)):
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def _interpret(spec: CheckSpec, er: Any, df: Any, cfg: QualityConfig) -> CheckResult:
    exc = er.exception_info or {}
    raised = exc.get("raised_exception") if "raised_exception" in exc else None
    if raised is None and exc:  # keyed by metric id when a metric failed
        inner = [v for v in exc.values() if isinstance(v, dict) and v.get("raised_exception")]
        if inner:
            raised, exc = True, inner[0]
    if raised:
        msg = (exc.get("exception_message") or "GX raised an exception").splitlines()[0]
        return _result(spec, ERROR, message=msg)
    res = er.result or {}
    n = cfg.sample_rows
    failed = res.get("unexpected_count")
    sample: list[dict[str, Any]] = []
    if not er.success and n:
        idx = [int(i) for i in (res.get("partial_unexpected_index_list") or [])][:n]
        if not idx and spec.expectation == "expect_column_max_to_be_between" and "max_value" in spec.kwargs:
            col = spec.kwargs["column"]
            over = df[df[col] > spec.kwargs["max_value"]].sort_values(col, ascending=False)
            failed = len(over)
            idx = list(over.index[:n])
        if idx and not isinstance(idx[0], int):
            idx = [int(i) for i in idx]
        sample = _rows(df, idx)
        if not sample and "partial_unexpected_list" in res:
            sample = [{"value": _jsonable(v)} for v in res["partial_unexpected_list"][:n]]
    observed = _jsonable(res.get("observed_value"))
    message = ""
    if not er.success:
        details = res.get("details") or {}
        missing = (details.get("mismatched") or {}).get("missing")
        if missing:
            message = f"missing columns: {', '.join(missing)}"
    return _result(
        spec,
        PASSED if er.success else FAILED,
        failed_count=int(failed) if failed is not None else None,
        element_count=int(res["element_count"]) if res.get("element_count") is not None else None,
        observed=observed,
        message=message,
        sample=sample,
    )


# ---------------------------------------------------------------------------------- static catalog

ACTIVATION_CHECKS: tuple[tuple[str, str, str | None, str | None], ...] = (
    # name, description, column, dbt rule kind
    ("key_not_null", "the key is never null", "person_id", "not_null"),
    ("key_unique", "the key is unique", "person_id", "unique"),
    ("email_valid", "every email is a valid address", "email", None),
    ("email_present", "every row sent to the email channel has an email", "email", "not_null"),
    ("phone_valid", "every phone is an E.164 number", "phone", None),
    ("phone_present", "every row sent to the sms channel has a phone", "phone", "not_null"),
    ("consent", "every person has consent for the channel in the consent ledger", None, None),
    ("no_erased_person", "no person with an erasure request is in the model", None, None),
    ("row_count_change", "the row count is within the configured band of the previous run", None, None),
)


def _static_key(asset: str, col: str) -> str:
    """The key column assumed before the model is read: person_id, or the idempotency key of a trigger."""
    return "idempotency_key" if col == "person_id" and asset.startswith("trg_") else col


def catalog(asset: str, config: QualityConfig | None = None) -> list[CheckSpec]:
    """The checks an asset can have, known without the warehouse (for Dagster's check specs).

    Severity overrides apply and rules dbt already tests are left out. At run time a check the data
    makes not applicable (no phone column, no ledger) is reported as skipped.
    """
    cfg = config or load_config()
    now = resolve_now()
    if asset.startswith("raw.") or asset == PROFILE_ASSET:
        with connect(":memory:") as empty:
            specs = (
                raw_suite(empty, asset.removeprefix("raw."), cfg, now)
                if asset.startswith("raw.")
                else profile_suite(empty, cfg)
            )
    else:
        relation = f"main.{asset}"
        specs = [
            CheckSpec(
                asset,
                name,
                Severity.BLOCKING,
                desc,
                "",
                rule=(relation, _static_key(asset, col), kind) if col and kind else None,
            )
            for name, desc, col, kind in ACTIVATION_CHECKS
        ]
    kept, _ = apply_policy(specs, cfg)
    return kept
