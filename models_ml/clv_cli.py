"""`outflow clv fit|report`: customer lifetime value (BG/NBD + Gamma-Gamma) into main.ml_customer_value."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from models_ml.cli import _connect, _user_errors
from outflow.console import console

app = typer.Typer(help="Customer lifetime value: BG/NBD and Gamma-Gamma.", no_args_is_help=True)


AS_OF_HELP = (
    "The data's 'now': YYYY-MM-DD (end of that day) or an ISO timestamp; default OUTFLOW_AS_OF, "
    "else the loaded dataset's date, else the clock."
)
WAREHOUSE_HELP = "DuckDB warehouse file (default: the settings)."


@app.command("fit")
def fit_cmd(
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    holdout_days: Annotated[
        int,
        typer.Option(
            "--holdout-days",
            min=0,
            help="Also fit on data ending this many days earlier and "
            "compare its forecast with what happened (0: skip).",
        ),  # fmt: skip
    ] = 90,
    warehouse: Annotated[Path | None, typer.Option("--warehouse", help=WAREHOUSE_HELP)] = None,
) -> None:
    """Fit on the warehouse's purchase occasions and replace main.ml_customer_value."""
    from models_ml.clv import fit_and_score
    from outflow.asof import resolve_as_of

    with _user_errors(), _connect(warehouse) as con:
        at = resolve_as_of(as_of, con)
        console.print(at.describe(), highlight=False)
        result = fit_and_score(con, at.at(), holdout_days=holdout_days or None)
    bg, gg = result["bgnbd"], result["gamma_gamma"]
    console.print(
        f"BG/NBD (days): r={bg['r']:.4g} alpha={bg['alpha']:.4g} a={bg['a']:.4g} b={bg['b']:.4g}; "
        f"Gamma-Gamma: p={gg['p']:.4g} q={gg['q']:.4g} gamma={gg['gamma']:.4g} ({gg['n']:,} repeat customers)",
        highlight=False,
    )
    console.print(
        f"{result['customers']:,} customers scored into main.ml_customer_value; mean P(alive) "
        f"{result['mean_p_alive']:.3f}; total 12-month CLV {result['total_clv']:,.0f}",
        highlight=False,
    )
    hold = result.get("holdout")
    if hold and "error" not in hold:
        table = Table(title=f"Holdout: fit to {hold['calibration_end']:%Y-%m-%d}, next {hold['days']} days")
        for col in ("calibration frequency", "customers", "actual purchases", "predicted"):
            table.add_column(col, justify="right")
        for row in hold["by_frequency"]:
            table.add_row(row["frequency"], f"{row['customers']:,}", f"{row['actual']:.3f}", f"{row['predicted']:.3f}")
        console.print(table)
        console.print(
            f"holdout total: actual {hold['actual_total']:,.0f}, predicted {hold['predicted_total']:,.1f} "
            f"({hold['total_error_pct']:+.1f}%); MAE per customer {hold['mae_per_customer']:.3f}",
            highlight=False,
        )
    elif hold:
        console.print(f"[yellow]holdout not assessed: {hold['error']}[/yellow]", highlight=False)


@app.command("report")
def report_cmd(
    top: Annotated[int, typer.Option("--top", min=1, help="How many customers to list.")] = 10,
    warehouse: Annotated[Path | None, typer.Option("--warehouse", help=WAREHOUSE_HELP)] = None,
) -> None:
    """The customers with the highest CLV in main.ml_customer_value, and the totals."""
    from models_ml.clv import VALUE_TABLE
    from models_ml.errors import ModelError
    from outflow.asof import describe_moment

    with _user_errors(), _connect(warehouse, read_only=True) as con:
        if not con.table_exists("main", "ml_customer_value"):
            raise ModelError(f"{VALUE_TABLE} is missing: run `outflow clv fit` first")
        totals = con.execute(
            f"select count(*), max(as_of), avg(p_alive), sum(expected_purchases_365d), sum(clv) from {VALUE_TABLE}"
        ).fetchone()
        rows = con.execute(
            f"select person_id, frequency, p_alive, expected_purchases_90d, expected_spend, clv from {VALUE_TABLE} "
            "order by clv desc, person_id limit ?",
            [top],
        ).fetchall()
    n, as_of, alive, purchases, clv = totals
    console.print(
        f"{n:,} customers as of {describe_moment(as_of)}: mean P(alive) {alive:.3f}, "
        f"{purchases:,.0f} purchases expected in 365 days, total CLV {clv:,.0f}",
        highlight=False,
    )
    table = Table(title=f"Top {top} by CLV")
    for col in ("person", "repeat occasions", "P(alive)", "purchases 90d", "spend / occasion", "CLV"):
        table.add_column(col, justify="left" if col == "person" else "right")
    for pid, freq, p, e90, spend, value in rows:
        table.add_row(pid, str(freq), f"{p:.3f}", f"{e90:.2f}", f"{spend:.2f}", f"{value:.2f}")
    console.print(table)
