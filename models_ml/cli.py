"""`outflow score …`: train, score and report on the predictive lead-scoring model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from models_ml.errors import ModelError
from models_ml.registry import DEFAULT_MARGIN, ModelRegistry
from outflow.console import console

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

app = typer.Typer(help="Predictive lead scoring: train, score, report.", no_args_is_help=True)

AS_OF_HELP = "The moment to score at (YYYY-MM-DD); default: the loaded dataset's as-of date, else the latest event."
REGISTRY_HELP = "Model registry folder (default: OUTFLOW_MODEL_REGISTRY or <warehouse dir>/models)."


@contextmanager
def _user_errors() -> Iterator[None]:
    """User mistakes (no warehouse, no model, bad input) are one red line and exit code 1."""
    from outflow.errors import OutflowError

    try:
        yield
    except (ModelError, OutflowError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _connect(warehouse: Path | None, read_only: bool = False) -> Warehouse:
    from outflow import settings
    from outflow.warehouse import connect

    if warehouse is None and settings.target() != "duckdb":
        return connect(read_only=read_only)
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


@app.command("train")
def train_cmd(
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    margin: Annotated[
        float, typer.Option("--margin", help="Promotion gate: holdout AUC gain needed.")
    ] = DEFAULT_MARGIN,
    registry: Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)] = None,
    warehouse: Annotated[
        Path | None, typer.Option("--warehouse", help="DuckDB file (default: OUTFLOW_WAREHOUSE).")
    ] = None,
) -> None:
    """Train a model on past cutoffs, evaluate it on the holdout, register it, promote it if better."""
    from models_ml.pipeline import train_model

    with _user_errors():
        reg = ModelRegistry(registry)
        with _connect(warehouse) as con, console.status("training…"):
            result = train_model(con, as_of=as_of, registry=reg, margin=margin)
        report = result["report"]
        console.print(_metrics_table(report, f"holdout at {result['holdout_cutoff']:%Y-%m-%d} (n={report['n']})"))
        verdict = "[green]promoted[/green]" if result["promoted"] else "[yellow]not promoted[/yellow]"
        console.print(f"model {result['model_version']}: {verdict} — {result['promotion_reason']}")
        console.print(f"current model: {result['current_version']}")


@app.command("run")
def run_cmd(
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    version: Annotated[str | None, typer.Option("--version", help="Model version (default: the promoted one).")] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)] = None,
    warehouse: Annotated[
        Path | None, typer.Option("--warehouse", help="DuckDB file (default: OUTFLOW_WAREHOUSE).")
    ] = None,
) -> None:
    """Score everyone with the current model into main.ml_lead_scores."""
    from models_ml.pipeline import score_people

    with _user_errors():
        with _connect(warehouse) as con, console.status("scoring…"):
            result = score_people(con, as_of=as_of, registry=ModelRegistry(registry), version=version)
        console.print(
            f"scored {result['rows']} people with model {result['model_version']} "
            f"(mean score {_fmt(result['mean_score'])}, drift PSI vs previous run {_fmt(result['psi'])}) "
            "→ main.ml_lead_scores"
        )
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
    version: Annotated[str | None, typer.Option("--version", help="Model version (default: the promoted one).")] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full evaluation report as JSON.")] = False,
) -> None:
    """Show a model's evaluation report (metrics, calibration, fairness) and the AUC of every version."""
    with _user_errors():
        reg = ModelRegistry(registry)
        versions = reg.versions()
        if not versions:
            raise ModelError(f"no models in {reg.root}; run `outflow score train` first")
        chosen = version or reg.current_version() or versions[-1].version
        meta = next((v.meta for v in versions if v.version == chosen), None)
        if meta is None:
            raise ModelError(f"model version {chosen!r} not found in {reg.root}")
        report = meta["metrics"]["holdout"]
        if as_json:
            console.print_json(json.dumps(meta, default=str))
            return
        window = meta.get("training_window", {})
        console.print(
            f"[bold]model {chosen}[/bold]  code "
            f"{meta['code_version'].get('git_sha') or meta['code_version']['package']}"
            f"  trained on cutoffs {', '.join(c[:10] for c in window.get('cutoffs', []))}"
        )
        console.print(_metrics_table(report, f"holdout (n={report['n']}, positives={report['positives']})"))
        cal = Table(title="calibration (equal-count bins)")
        for col in ("bin", "n", "mean predicted", "observed rate"):
            cal.add_column(col, justify="right")
        for b in report["calibration"]:
            cal.add_row(str(b["bin"]), str(b["n"]), _fmt(b["mean_predicted"]), _fmt(b["observed_rate"]))
        console.print(cal)
        fair = report.get("fairness")
        if fair:
            ft = Table(title=f"fairness: {fair['rule']}")
            for col in (
                "group",
                "n",
                "mean score",
                "selection rate",
                "impact ratio",
                "p",
                "judged",
                "passes",
            ):
                ft.add_column(col)
            for g in fair["groups"]:
                ft.add_row(
                    g["group"],
                    str(g["n"]),
                    _fmt(g["mean_score"]),
                    _fmt(g["selection_rate"]),
                    _fmt(g["impact_ratio"], 2),
                    _fmt(g.get("p_value_vs_highest"), 3),
                    "yes" if g["judged"] else "no",
                    "[green]yes[/green]" if g["passes"] else "[red]no[/red]",
                )
            console.print(ft)
        hist = Table(title="all versions")
        for col in ("version", "holdout AUC", "rule-based AUC", "current"):
            hist.add_column(col)
        current = reg.current_version()
        for v in versions:
            h = v.meta["metrics"]["holdout"]
            hist.add_row(
                v.version,
                _fmt(h["model"]["roc_auc"]),
                _fmt(h["comparison"].get("rule_based", {}).get("roc_auc")),
                "*" if v.version == current else "",
            )
        console.print(hist)


@app.command("all")
def all_cmd(
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)] = None,
    warehouse: Annotated[
        Path | None, typer.Option("--warehouse", help="DuckDB file (default: OUTFLOW_WAREHOUSE).")
    ] = None,
) -> None:
    """Train (through the promotion gate) and score; compare with the rule-based score on ground truth."""
    from models_ml.pipeline import train_and_score

    with _user_errors():
        with _connect(warehouse) as con, console.status("training and scoring…"):
            r = train_and_score(con, as_of=as_of, registry=ModelRegistry(registry))
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
