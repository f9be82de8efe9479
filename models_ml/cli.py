"""`outflow score …`: train, score and report on the predictive lead-scoring model."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from models_ml.errors import ModelError
from models_ml.registry import DEFAULT_MARGIN, ModelRegistry
from outflow.cli_options import WarehouseOpt
from outflow.console import console
from outflow.recorders import Recorder, recording

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

app = typer.Typer(help="Predictive lead scoring: train, score, report.", no_args_is_help=True)

AS_OF_HELP = (
    "The moment to score at: YYYY-MM-DD (the end of that day) or an ISO timestamp; default OUTFLOW_AS_OF, else "
    "the loaded dataset's date, else the latest event."
)
REGISTRY_HELP = "Model registry folder (default: OUTFLOW_MODEL_REGISTRY or <warehouse dir>/models)."
AsOf = Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)]
RegistryPath = Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)]
Version = Annotated[str | None, typer.Option("--version", help="Model version (default: the promoted one).")]


@contextmanager
def _user_errors() -> Iterator[None]:
    """User mistakes (no warehouse, no model, bad input) are one red line and exit code 1."""
    from outflow.errors import OutflowError

    try:
        yield
    except (ModelError, OutflowError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _as_of(con: Warehouse, as_of: str | None) -> dt.datetime | None:
    """The shared as-of (outflow/asof.py), printed: --as-of, else OUTFLOW_AS_OF, else the loaded dataset's date;
    with none of them the model commands use the latest event."""
    from outflow.asof import resolve_as_of

    at = resolve_as_of(as_of, con)
    shown = at.describe() if at.moment else "as of the latest event (no --as-of, OUTFLOW_AS_OF or loaded dataset)"
    console.print(shown, highlight=False)
    return at.moment


def _connect(warehouse: Path | str | None, read_only: bool = False) -> Warehouse:
    from outflow import settings
    from outflow.warehouse import connect

    if isinstance(warehouse, str) or (warehouse is None and settings.target() != "duckdb"):
        return connect(warehouse, read_only=read_only)  # a postgresql:// URL, or the settings
    path = warehouse or settings.warehouse_path()
    if not path.exists():
        raise ModelError(f"warehouse {path} does not exist; run `outflow demo` or `outflow load` + `outflow build`")
    return connect(path, read_only=read_only)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _metrics_table(report: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("score", "ROC AUC", "PR AUC", "top-decile lift"):
        table.add_column(col, justify="right" if col != "score" else "left")
    rows = [("predictive (xgboost)", report["model"])] + list(report.get("comparison", {}).items())
    for name, m in rows:
        table.add_row(name, _fmt(m.get("roc_auc")), _fmt(m.get("pr_auc")), _fmt(m.get("top_decile_lift"), 2))
    return table


def _fairness_table(attribute: str, fair: dict[str, Any]) -> Table | str:
    if fair.get("status") == "not judged":
        return f"fairness ({attribute}): not judged — {fair.get('reason', '')}"
    aware = fair.get("outcome_aware", False)
    gaps = (
        f"; equal-opportunity gap {_fmt(fair.get('equal_opportunity_gap'))}, "
        f"calibration gap {_fmt(fair.get('calibration_gap'))}, lowest four-fifths ratio "
        f"{_fmt(fair.get('lowest_impact_ratio'), 2)}"
        if aware
        else ""
    )
    table = Table(title=f"fairness by {attribute}: {fair['status']}{gaps}")
    cols = ["group", "n", "selection rate", "impact ratio"]
    cols += ["base rate", "AUC", "TPR", "FPR", "predicted", "observed", "calibrated"] if aware else ["p", "passes"]
    for col in cols:
        table.add_column(col)
    for g in fair["groups"]:
        row = [g["group"], str(g["n"]), _fmt(g["selection_rate"]), _fmt(g["impact_ratio"], 2)]
        if aware:
            row += [_fmt(g["base_rate"]), _fmt(g["auc"]), _fmt(g["tpr"]), _fmt(g["fpr"])]
            row += [_fmt(g["mean_predicted"]), _fmt(g["base_rate"])]
            row += ["—" if not g["judged"] else "[green]yes[/green]" if g["calibrated"] else "[red]no[/red]"]
        else:
            row += [_fmt(g.get("p_value_vs_highest")), "[green]yes[/green]" if g["passes"] else "[red]no[/red]"]
        table.add_row(*row)
    return table


def print_report(chosen: str, meta: dict[str, Any], versions: list[Any], current: str | None) -> None:
    """A model's evaluation report: metrics beside the baselines, calibration, fairness, all versions."""
    report = meta["metrics"]["holdout"]
    window = meta.get("training_window", {})
    cutoffs = window.get("cutoffs") or window.get("training_cutoffs") or []
    console.print(
        f"[bold]model {chosen}[/bold]  code "
        f"{meta['code_version'].get('git_sha') or meta['code_version']['package']}"
        + (f"  trained on cutoffs {', '.join(c[:10] for c in cutoffs)}" if cutoffs else "")
        + (f"  label: {meta['label']}" if meta.get("label") else "")
    )
    holdout = report.get("holdout", "out of time")
    console.print(_metrics_table(report, f"{holdout} holdout (n={report['n']}, positives={report['positives']})"))
    for name, why in report.get("baselines", {}).items():
        console.print(f"  {name}: {why}", highlight=False)
    console.print(verdict_line(report), highlight=False)
    cv = report.get("cross_validation")
    if cv:
        folds = ", ".join(f"{a:.3f}" for a in cv["per_fold"])
        console.print(f"{cv['folds']}-fold cross-validated AUC {cv['roc_auc']:.4f} (folds: {folds})")
    cal = Table(title="calibration (equal-count bins)")
    for col in ("bin", "n", "mean predicted", "observed rate"):
        cal.add_column(col, justify="right")
    for b in report["calibration"]:
        cal.add_row(str(b["bin"]), str(b["n"]), _fmt(b["mean_predicted"]), _fmt(b["observed_rate"]))
    console.print(cal)
    audits = report.get("fairness_by_attribute") or {"group": report.get("fairness") or {"status": "not judged"}}
    for attribute, fair in audits.items():
        console.print(_fairness_table(attribute, fair))
        for line in fair.get("explanation", []):
            console.print(f"  {line}", highlight=False)
    hist = Table(title="all versions")
    for col in ("version", "holdout AUC", "current"):
        hist.add_column(col)
    for v in versions:
        hist.add_row(
            v.version, _fmt(v.meta["metrics"]["holdout"]["model"]["roc_auc"]), "*" if v.version == current else ""
        )
    console.print(hist)


def verdict_line(report: dict[str, Any]) -> str:
    """Which score wins on the holdout, said plainly."""
    model_auc = report["model"].get("roc_auc")
    others = {k: v.get("roc_auc") for k, v in report.get("comparison", {}).items() if v.get("roc_auc") is not None}
    if model_auc is None or not others:
        return "no baseline to compare with"
    best, best_auc = max(others.items(), key=lambda kv: kv[1])
    if model_auc >= best_auc:
        return f"the model wins: AUC {model_auc:.3f} against {best_auc:.3f} for the best baseline ({best})"
    return f"{best} wins: AUC {best_auc:.3f} against {model_auc:.3f} for the model"


#: Recorders (outflow/recorders.py) of `outflow score train|run|all`, each handed (asset key paths, metadata) when
#: the command has materialized the model or the scores; the app layer (outflow/cli.py) adds one that records them
#: in the Dagster instance (orchestration/history.py): entered as the command starts, it gets ready meanwhile.
RECORDERS: list[Recorder] = []
#: The same for `outflow model train|run`: each hands over the config's asset (`ModelConfig.asset`).
MODEL_RECORDERS: list[Recorder] = []
MODEL_ASSET, SCORES_ASSET = ["ml", "lead_score_model"], ["ml", "ml_lead_scores"]  # the Dagster asset keys


@contextmanager
def _recording(recorders: list[Recorder] = RECORDERS) -> Iterator[Callable[[list[list[str]], dict[str, Any]], None]]:
    """What the command materialized, handed to the recorders: its scalar metadata only."""
    with recording(recorders) as record:
        yield lambda keys, metadata: record(
            keys, {k: v for k, v in metadata.items() if isinstance(v, int | float | str)}
        )


@app.command("train")
def train_cmd(
    as_of: AsOf = None,
    margin: Annotated[
        float, typer.Option("--margin", help="Promotion gate: holdout AUC gain needed.")
    ] = DEFAULT_MARGIN,
    registry: RegistryPath = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Train a model on past cutoffs, evaluate it on the holdout, register it, promote it if better."""
    from models_ml.pipeline import train_model

    with _user_errors(), _recording() as materialized:
        reg = ModelRegistry(registry)
        with _connect(warehouse) as con:
            at = _as_of(con, as_of)
            with console.status("training…"):
                result = train_model(con, as_of=at, registry=reg, margin=margin)
        report = result["report"]
        console.print(_metrics_table(report, f"holdout at {result['holdout_cutoff']:%Y-%m-%d} (n={report['n']})"))
        verdict = "[green]promoted[/green]" if result["promoted"] else "[yellow]not promoted[/yellow]"
        console.print(f"model {result['model_version']}: {verdict} — {result['promotion_reason']}")
        console.print(f"current model: {result['current_version']}")
        materialized([MODEL_ASSET], {k: result[k] for k in ("model_version", "promoted", "current_version")})


@app.command("run")
def run_cmd(
    as_of: AsOf = None,
    version: Version = None,
    registry: RegistryPath = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Score everyone with the current model into main.ml_lead_scores."""
    from models_ml.pipeline import score_people

    with _user_errors(), _recording() as materialized:
        with _connect(warehouse) as con:
            at = _as_of(con, as_of)
            with console.status("scoring…"):
                result = score_people(con, as_of=at, registry=ModelRegistry(registry), version=version)
        console.print(
            f"scored {result['rows']} people with model {result['model_version']} "
            f"(mean score {_fmt(result['mean_score'])}, drift PSI vs previous run {_fmt(result['psi'])}) "
            "→ main.ml_lead_scores"
        )
        materialized([SCORES_ASSET], {k: result[k] for k in ("rows", "model_version", "mean_score", "psi")})
        top = result["scores"].sort("score", descending=True).head(5)
        table = Table(title="top 5")
        for col in ("person_id", "score", "decile", "reasons"):
            table.add_column(col)
        for row in top.iter_rows(named=True):
            reasons = ", ".join(f"{r['feature']} ({r['contribution']:+.2f})" for r in json.loads(row["reason_codes"]))
            table.add_row(row["person_id"], f"{row['score']:.3f}", str(row["decile"]), reasons)
        console.print(table)


@app.command("report")
def report_cmd(
    version: Version = None,
    registry: RegistryPath = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full evaluation report as JSON.")] = False,
) -> None:
    """Show a model's evaluation report (metrics, calibration, fairness) and the AUC of every version."""
    with _user_errors():
        from models_ml.configured import model_meta

        reg = ModelRegistry(registry)
        chosen, meta, versions = model_meta(reg, version)
        if as_json:
            console.print_json(json.dumps(meta, default=str))
            return
        print_report(chosen, meta, versions, reg.current_version())


@app.command("all")
def all_cmd(
    as_of: AsOf = None,
    registry: RegistryPath = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Train (through the promotion gate) and score; compare with the rule-based score on ground truth."""
    from models_ml.pipeline import train_and_score

    with _user_errors(), _recording() as materialized:
        with _connect(warehouse) as con:
            at = _as_of(con, as_of)
            with console.status("training and scoring…"):
                r = train_and_score(con, as_of=at, registry=ModelRegistry(registry))
        table = Table(title="lead scores: ROC AUC")
        table.add_column("score")
        table.add_column("holdout labels", justify="right")
        table.add_column("ground truth", justify="right")
        table.add_row("predictive (xgboost)", _fmt(r["holdout_auc"]), _fmt(r["truth_auc_model"]))
        table.add_row("logistic baseline", _fmt(r["logistic_auc"]), "—")
        table.add_row("rule-based (dbt)", _fmt(r["rule_auc_holdout"]), _fmt(r["truth_auc_rule"]))
        console.print(table)
        verdict = "promoted" if r["promoted"] else "not promoted"
        console.print(f"model {r['model_version']} {verdict}; {r['rows_scored']} people scored")
        materialized([MODEL_ASSET, SCORES_ASSET], r)


model_app = typer.Typer(
    help="Models declared as configs (YAML) over warehouse tables: train, run, report. "
    "Configs live in models_ml/configs/ and the folders in OUTFLOW_MODEL_CONFIGS.",
    no_args_is_help=True,
)
NAME_HELP = "A model config's name (e.g. churn, lead_score) or the path of its YAML file."


@model_app.command("list")
def model_list_cmd() -> None:
    """The model configs found, with their kind and source."""
    from models_ml.config import load_configs

    with _user_errors():
        table = Table(title="model configs")
        for col in ("name", "kind", "source", "file"):
            table.add_column(col)
        for cfg in load_configs():
            table.add_row(cfg.name, cfg.kind, cfg.source.qualified if cfg.source else "built-in", str(cfg.path))
        console.print(table)


@model_app.command("train")
def model_train_cmd(
    name: Annotated[str, typer.Argument(help=NAME_HELP)],
    as_of: AsOf = None,
    margin: Annotated[float | None, typer.Option("--margin", help="Promotion gate (default: the config's).")] = None,
    registry: RegistryPath = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Train a config's model, evaluate it on its holdout, register it, promote it if it beats the current one."""
    from models_ml.config import find_config
    from models_ml.configured import registry_for, train_config

    with _user_errors(), _recording(MODEL_RECORDERS) as materialized:
        cfg = find_config(name)
        with _connect(warehouse) as con, console.status(f"training {cfg.name}…"):
            result = train_config(con, cfg, as_of=as_of, registry=registry_for(cfg, registry), margin=margin)
        report = result["report"]
        console.print(
            _metrics_table(report, f"{cfg.name}: {report.get('holdout', 'out of time')} holdout (n={report['n']})")
        )
        console.print(verdict_line(report), highlight=False)
        if "cross_validation" in report:
            console.print(
                f"{report['cross_validation']['folds']}-fold cross-validated AUC "
                f"{report['cross_validation']['roc_auc']:.4f}"
            )
        verdict = "[green]promoted[/green]" if result["promoted"] else "[yellow]not promoted[/yellow]"
        console.print(f"model {result['model_version']}: {verdict} — {result['promotion_reason']}")
        materialized([cfg.asset], {k: result[k] for k in ("model_version", "promoted", "promotion_reason")})


@model_app.command("run")
def model_run_cmd(
    name: Annotated[str, typer.Argument(help=NAME_HELP)],
    as_of: AsOf = None,
    version: Version = None,
    registry: RegistryPath = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Score with the promoted model into the config's scores table (main.ml_<name>_scores)."""
    from models_ml.config import find_config
    from models_ml.configured import registry_for, run_config

    with _user_errors(), _recording(MODEL_RECORDERS) as materialized:
        cfg = find_config(name)
        with _connect(warehouse) as con, console.status(f"scoring {cfg.name}…"):
            result = run_config(con, cfg, as_of=as_of, registry=registry_for(cfg, registry), version=version)
        console.print(
            f"scored {result['rows']} rows with model {result['model_version']} "
            f"(mean score {_fmt(result['mean_score'])}) → {result['table']}"
        )
        scored = {
            "rows_scored": result["rows"],
            "model_version": result["model_version"],
            "scores_table": result["table"],
        }
        materialized([cfg.asset], scored)


@model_app.command("report")
def model_report_cmd(
    name: Annotated[str, typer.Argument(help=NAME_HELP)],
    version: Version = None,
    registry: RegistryPath = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full evaluation report as JSON.")] = False,
) -> None:
    """A config's evaluation report: holdout AUC beside its baselines, cross-validation, calibration, fairness."""
    from models_ml.config import find_config
    from models_ml.configured import model_meta, registry_for

    with _user_errors():
        cfg = find_config(name)
        reg = registry_for(cfg, registry)
        chosen, meta, versions = model_meta(reg, version)
        if as_json:
            console.print_json(json.dumps(meta, default=str))
            return
        print_report(chosen, meta, versions, reg.current_version())
