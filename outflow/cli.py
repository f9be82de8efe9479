"""The `outflow` command line. Mistakes a user can make are one red line, never a traceback."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from outflow import __version__, settings
from outflow.console import FORMATS, console, hoist_output_option, line_buffered
from outflow.errors import OutflowError
from outflow.lazy_cli import Lazy, factory, lazy_group
from outflow.recorders import Recorder
from outflow.report.cli import audience_app, person_app
from outflow.report.cli import site as report_site
from outflow.warehouse import creating
from outflow.warehouse.base import QueryError

if TYPE_CHECKING:
    from outflow.demo import DemoReport


def _quiet_help_types() -> None:
    """`--help` shows a value's kind only where it helps: nothing after a flag (typer prints ``<bool>``) or an
    argument (its name says what it is: ``names...``, not ``<list[str]>``); options that take a value keep it."""
    from typer.core import TyperArgument, TyperOption

    option_type = TyperOption.display_type_rich

    def option(self: TyperOption, ctx: typer.Context) -> str | None:
        return None if self.is_flag else option_type(self, ctx)

    TyperOption.display_type_rich = option  # type: ignore[method-assign]
    TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]


_quiet_help_types()


# Each command's results are recorded in the Dagster instance the UI reads (one history; orchestration/history.py).
# The libraries expose RECORDERS (outflow/recorders.py); ours are added when a command's module is first loaded.
def _history(command: str, kind: str) -> Recorder:
    """A recorder handing each result to the ``Writer`` method ``kind`` of a history written by a process started
    as ``command`` starts (ready when its results are)."""

    @contextmanager
    def start() -> Iterator[Callable[..., None]]:
        from orchestration.history import writer

        with writer(command) as history:
            yield getattr(history, kind)

    return start


_SYNC_HISTORY = _history("outflow sync run", "sync")
_CHECK_HISTORY = _history("outflow check", "checks")
_SCORE_HISTORY = _history("outflow score", "assets")
_MODEL_HISTORY = _history("outflow model", "assets")


def _hooked(hooks: list, hook: object) -> None:
    if hook not in hooks:
        hooks.append(hook)


@factory
def _sync_app() -> typer.Typer:
    from activations.cli import RECORDERS
    from activations.cli import app as sync_app
    from activations.privacy_cli import reconcile_cmd
    from activations.rows_cli import log_cmd, rejected_cmd

    _hooked(RECORDERS, _SYNC_HISTORY)
    have = {c.name for c in sync_app.registered_commands}
    for name, cmd in (("reconcile", reconcile_cmd), ("rejected", rejected_cmd), ("log", log_cmd)):
        if name not in have:
            sync_app.command(name=name)(cmd)
    return sync_app


@factory
def _check() -> object:
    from data_quality.cli import RECORDERS, check

    _hooked(RECORDERS, _CHECK_HISTORY)
    return check


@factory
def _score_app() -> typer.Typer:
    from models_ml.cli import RECORDERS, app

    _hooked(RECORDERS, _SCORE_HISTORY)
    return app


@factory
def _model_app() -> typer.Typer:
    from models_ml.cli import MODEL_RECORDERS, model_app

    _hooked(MODEL_RECORDERS, _MODEL_HISTORY)
    return model_app


# Subcommands whose modules are imported only when they run (outflow/lazy_cli.py); the help is what --help lists.
LAZY = {
    "check": Lazy("outflow.cli:_check", "Run the checks of ASSET; exit 1 when a blocking check fails."),
    "segment": Lazy("outflow.segments.cli:app", "Segments and audiences: list, validate, compile, preview."),
    "sync": Lazy("outflow.cli:_sync_app", "Activation syncs: push sync_*/trg_* models to destinations."),
    "sandbox": Lazy("activations.sandboxes.cli:sandbox_app", "Local sandboxes for every destination."),
    "score": Lazy("outflow.cli:_score_app", "Predictive lead scoring: train, score, report."),
    "model": Lazy(
        "outflow.cli:_model_app",
        "Models declared as configs (YAML) over warehouse tables: train, run, report. Configs live in "
        "models_ml/configs/ and the folders in OUTFLOW_MODEL_CONFIGS.",
    ),
    "clv": Lazy("models_ml.clv_cli:app", "Customer lifetime value: BG/NBD and Gamma-Gamma."),
    "privacy": Lazy("activations.privacy_cli:app", "Privacy: erasure runs and per-person erasure reports."),
    "journey": Lazy("activations.journeys.cli:app", "Journeys: multi-step lifecycle flows evaluated in the warehouse."),
}
ORDER = ("check", "version", "generate", "load", "build", "identity", "demo", "ui", "segment", "sync", "sandbox")
ORDER += ("score", "model", "clv", "privacy", "journey", "report", "audience", "person")

app = typer.Typer(
    cls=lazy_group(LAZY, ORDER), help="Outflow: warehouse-native marketing automation.", no_args_is_help=True
)


@app.callback()
def main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show library logs."),
    output: str = typer.Option(
        "text",
        "--output",
        envvar="OUTFLOW_OUTPUT",
        metavar="text|json",
        help="json: the tables a command prints, as one JSON document on stdout. Works after any command too "
        "(`outflow sync runs --output json`). Piped text output is tab-separated.",
    ),
) -> None:
    """Outflow: warehouse-native marketing automation."""
    if output not in FORMATS:
        raise typer.BadParameter(f"{output!r}: use text or json", param_hint="--output")
    console.start(output)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    # a command reading a warehouse that is not there says what to run first instead of creating an empty one;
    # the commands that fill a warehouse (load, generate, demo) allow it with `creating()`
    ctx.with_resource(creating(False))


report_app = typer.Typer(help="HTML reports: `outflow report` writes the site; `report lift` campaign lift.",
                         invoke_without_command=True, callback=report_site)  # fmt: skip
app.add_typer(report_app, name="report")
app.add_typer(audience_app, name="audience")
app.add_typer(person_app, name="person")


@report_app.command("lift")
def report_lift_cmd(
    out: Path = typer.Option(None, "--out", "-o", help="HTML file to write (default: <warehouse dir>/lift.html)."),
) -> None:
    """Campaign lift: treated versus holdout conversions after exposure, with 95% intervals, into
    main.fct_campaign_lift and an HTML page with one chart per campaign (works offline)."""
    from outflow.asof import describe_moment
    from outflow.lift import compute_lift
    from outflow.report.lift import write_lift_report
    from outflow.warehouse import connect

    with connect() as con:
        lift, daily = compute_lift(con)
    path = write_lift_report(lift, daily, out or settings.warehouse_path().parent / "lift.html")
    if lift.height:
        console.print(f"as of {describe_moment(lift['measured_as_of'].max())}", highlight=False)
    table = Table(title="Campaign lift (ordered within the window after exposure)")
    for col in ("campaign", "treated", "holdout", "abs. lift pts [95% CI]", "incremental", "note"):
        table.add_column(col, justify="left" if col in ("campaign", "note") else "right")
    for r in lift.iter_rows(named=True):
        ci = f"{100 * r['abs_lift']:.1f} [{100 * r['abs_lift_low']:.1f}, {100 * r['abs_lift_high']:.1f}]"
        table.add_row(
            f"{r['campaign']} ({r['campaign_type']})",
            f"{r['treated']:,}",
            f"{r['holdout']:,}",
            ci,
            f"{r['incremental_conversions']:.1f}",
            r["note"],
        )
    console.print(table)
    console.print(f"report: {path}", highlight=False, soft_wrap=True)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"outflow {__version__}")


@app.command("generate")
def generate_cmd(
    people: int = typer.Option(2000, "--people", "-n", min=1, help="How many people to simulate."),
    seed: int = typer.Option(42, "--seed", help="Random seed: the same seed gives the same data."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: OUTFLOW_DATA_DIR or ./data)."),
    as_of: str = typer.Option("2026-11-01", "--as-of", help="The dataset's 'today' (YYYY-MM-DD)."),
    load: bool = typer.Option(True, "--load/--no-load", help="Also load the files into the warehouse."),
    hard: bool = typer.Option(False, "--hard", help="Add the hard identity cases, each record tagged in its truth."),
) -> None:
    """Write synthetic raw tables (and their ground truth) that follow the raw data contract."""
    from outflow.contract import GATING_TABLES
    from outflow.generate import generate
    from outflow.load import load_directory
    from outflow.warehouse import connect

    target = out or settings.data_dir()
    result = generate(people, seed, target, as_of=_date(as_of, "--as-of"), hard=hard)
    _rows_table(f"Generated {people:,} people into {target}", result.rows)
    if load:
        with creating(), connect() as con:
            # the generator is the source of consent and erasures: an empty list is what it generated
            load_directory(con, target, allow_empty=GATING_TABLES)
            where = con.location
        console.print(f"Loaded into [bold]{where}[/bold]")


@app.command("load")
def load_cmd(
    directory: Path = typer.Argument(..., help="Folder with <table>.csv / <table>.parquet files or <table>/ folders."),
    quarantine: bool = typer.Option(
        False, "--quarantine", help="Set bad rows aside in raw.rejected_rows instead of refusing the file."
    ),
    allow_empty: list[str] = typer.Option(
        [],
        "--allow-empty",
        metavar="TABLE[,TABLE]",
        help="Declare that this source has no rows for a table that gates sending (consent_events, "
        "erasure_requests); without it a missing or empty file for them is refused.",
    ),
    date_order: str = typer.Option(
        None,
        "--date-order",
        metavar="dmy|mdy",
        help="Read day-first (31/12/1997) or month-first (12/31/1997) dates; default OUTFLOW_DATE_ORDER. ISO and "
        "compact ISO (19970101) dates are always read.",
    ),
) -> None:
    """Load your own CSV or Parquet files into the warehouse, validated against the raw data contract.

    Every file is validated in full first; then every table is replaced in one transaction, or none is.
    The erasure ledger (raw.erasure_requests) only grows: new requests are added, recorded ones are kept."""
    from outflow.contract import TABLES
    from outflow.load import load_directory
    from outflow.warehouse import connect

    declared = [name for value in allow_empty for name in value.split(",")]
    if not directory.is_dir():  # before the warehouse is opened, so a typo creates no empty warehouse
        raise OutflowError(f"{directory}: no such folder")
    with creating(), connect() as con:
        result = load_directory(con, directory, quarantine=quarantine, allow_empty=declared, date_order=date_order)
        where = con.location
    _rows_table(f"Loaded {directory} into {where}", result.rows, result.rejected)
    if result.as_of:
        console.print(
            f"dataset date: {result.as_of} (from {directory / 'AS_OF'}): commands run as of the end of that day "
            "unless --as-of or OUTFLOW_AS_OF says otherwise",
            highlight=False,
        )
    else:
        console.print("no AS_OF file: commands run as of --as-of, else OUTFLOW_AS_OF, else now", highlight=False)
    console.print(f"erasure_requests: {result.erasures_added:,} new requests added to the ledger")
    if result.erasures_kept:
        console.print(
            f"[yellow]erasure_requests: {result.erasures_kept:,} requests are already in the ledger with other "
            "values; kept as first recorded (a corrected request needs a new request_id)[/yellow]"
        )
    for table in result.missing_tables:
        kept = "its ledger is kept as it is" if TABLES[table].append_only else "loaded as an empty table"
        console.print(f"[yellow]no file for {table}: {kept}[/yellow]")
    for warning in result.warnings:
        console.print(f"[yellow]warning: {warning}[/yellow]", highlight=False, soft_wrap=True)


AS_OF_HELP = (
    "The data's 'now': YYYY-MM-DD (the end of that day, warehouse time zone) or an ISO timestamp. "
    "Default: OUTFLOW_AS_OF, else the loaded dataset's date (its AS_OF file), else the clock."
)


@app.command("build")
def build_cmd(
    select: str = typer.Option(None, "--select", "-s", help="dbt selection, e.g. 'marts'."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    full_refresh: bool = typer.Option(
        False,
        "--full-refresh",
        help="Rebuild the incremental models and the normalization lookups from the raw data (histories are kept).",
    ),
    unit_tests: bool = typer.Option(
        False, "--unit-tests", help="Also run dbt's unit tests (the models' SQL on fixed fixtures; CI runs them)."
    ),
) -> None:
    """Run `dbt build` (models, seeds, snapshot, data tests) against the warehouse, as of one date."""
    from outflow.asof import resolve_as_of
    from outflow.pipeline import build, require_raw_tables
    from outflow.warehouse import connect

    with connect() as con:
        require_raw_tables(con)
        at = resolve_as_of(as_of, con)
    console.print(at.describe(), highlight=False)
    from orchestration.history import writer
    from outflow.build_progress import dbt_progress

    # the Dagster UI shows what this build materialized: its writer gets ready while dbt builds
    with writer("outflow build") as history, dbt_progress(console) as on_node:
        run = build(select=select, as_of=at, on_node=on_node, full_refresh=full_refresh, unit_tests=unit_tests)
        history.dbt(run.results)
    console.print("[green]dbt build passed[/green]")


@app.command("identity")
def identity_cmd(
    truth: Path = typer.Option(
        None, "--truth", help="CSV/Parquet: record_id (as in int_identity__record_persons), person[, tag]."
    ),
    top: int = typer.Option(10, "--top", min=1, help="How many of the largest clusters to list."),
) -> None:
    """Report identity resolution: persons, shared identifiers, pairwise precision and recall against a truth
    (--truth, else the generator's), the largest clusters and what bridges them, suspicious clusters."""
    from outflow.identity_eval import print_report, read_truth
    from outflow.pipeline import summarize

    frame = read_truth(truth) if truth else None  # a malformed file fails first, in one line
    _summary_table(summarize(), {})
    print_report(frame, str(truth) if truth else None, top)


@app.command("demo")
def demo_cmd(
    people: int = typer.Option(2000, "--people", "-n", min=1),
    seed: int = typer.Option(42, "--seed"),
    as_of: str = typer.Option(None, "--as-of", help="The generated dataset's date (YYYY-MM-DD); default 2026-11-01."),
) -> None:
    """The whole job: synthetic data → dbt → scores → segments → syncs to sandboxes. On the embedded DuckDB by
    default; with OUTFLOW_TARGET=postgres on OUTFLOW_POSTGRES_URL, or, if that is not set, on a local PostgreSQL
    server started for the demo."""
    from orchestration.history import writer
    from outflow.console import err_console
    from outflow.demo import demo_warehouse, run_demo

    console.rule("[bold]Outflow demo")
    # The Dagster UI shows what the demo materialized. Its history is written by a process of its own as each dbt
    # build ends, while the demo goes on (each event is a few SQLite commits, each waiting for the disk); the
    # command waits for it before it exits.
    with writer("outflow demo") as history, creating(), demo_warehouse() as where:
        console.print(f"warehouse: {where}", highlight=False, soft_wrap=True)
        with console.status("demo: starting") as status:

            def stage(name: str) -> None:  # on a terminal the spinner names the stage; piped, a line each
                if console.is_terminal:
                    status.update(f"demo: {name}…")
                else:
                    err_console.print(f"demo: {name}", highlight=False, soft_wrap=True)

            report = run_demo(
                people, seed, as_of=_date(as_of, "--as-of") if as_of else None, on_stage=stage, on_built=history.dbt
            )
        history.demo(report)
        _print_demo(report)


def _print_demo(report: DemoReport) -> None:
    """The demo's summary tables."""
    console.print(report.as_of, highlight=False)
    for step, why in report.skipped.items():
        line = f"[yellow]skipped on {settings.target()}: {step}: {why}[/yellow]"
        console.print(line, highlight=False, soft_wrap=True)
    _summary_table(report.summary, report.seconds)
    if report.scoring:
        sc = report.scoring
        table = Table(title="Lead scores (AUC against the generator's true conversions)")
        table.add_column("score")
        table.add_column("ROC AUC", justify="right")
        for label, value in (
            ("predictive (xgboost)", sc.get("truth_auc_model")),
            ("rule-based (fit + engagement)", sc.get("truth_auc_rule")),
        ):
            table.add_row(label, f"{value:.3f}" if value is not None else "n/a")
        console.print(table)
        console.print(
            f"model {sc.get('model_version')} ({'promoted' if sc.get('promoted') else 'not promoted'}); "
            f"{sc.get('rows_scored', 0):,} people scored; holdout AUC {sc.get('holdout_auc', 0):.3f}"
        )
    if report.segments:
        table = Table(title="Segments, audiences and triggers")
        table.add_column("model")
        table.add_column("people", justify="right")
        for name, size in report.segments:
            table.add_row(name, f"{size:,}")
        console.print(table)
    if report.journeys:
        table = Table(title="Journeys (people entering each step; → goal / exits)")
        for col in ("journey", "per step", "goal", "exited", "sends"):
            table.add_column(col, justify="right" if col in ("goal", "exited", "sends") else "left")
        for run in report.journeys:
            steps = ", ".join(f"{c.step} {c.entered}" for c in run.steps)
            goal, left = sum(c.goal for c in run.steps), sum(c.exited for c in run.steps)
            table.add_row(run.journey, steps, str(goal), str(left), str(run.sends))
        console.print(table)
    if report.syncs:
        table = Table(title="Syncs to the local destination sandboxes")
        for col in (
            "sync",
            "destination",
            "status",
            "added",
            "changed",
            "removed",
            "invalid",
            "acked",
            "rejected",
            "deferred",
        ):
            table.add_column(col, justify="left" if col in ("sync", "destination", "status") else "right")
        for r in report.syncs:
            table.add_row(
                r["sync"],
                r.get("destination", ""),
                r.get("outcome") or (f"{r['status']}: {r['error']}" if r.get("error") else r["status"]),
                *(str(r.get(k, "")) for k in ("added", "changed", "removed", "invalid", "acked", "rejected",
                                              "deferred")),
            )  # fmt: skip
        console.print(table)
    if report.received:
        table = Table(title="What each destination sandbox holds now")
        table.add_column("destination")
        table.add_column("holds")
        for kind, held in report.received.items():
            table.add_row(kind, held)
        console.print(table)


@app.command("ui")
def ui_cmd(
    port: int = typer.Option(3000, "--port", help="Port of the Dagster UI on 127.0.0.1."),
    sandboxes: bool = typer.Option(
        True, "--sandboxes/--no-sandboxes", help="Also run the destination sandboxes the declared syncs point at."
    ),
) -> None:
    """The Dagster UI (`dagster dev`) on 127.0.0.1; by default with every destination sandbox running, on the
    ports the sync YAMLs name, and each sync given its sandbox's credentials, so materializing everything works
    locally. Use --no-sandboxes when the syncs point at real destinations with real secrets in the environment."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(settings.PROJECT_ROOT / "orchestration" / "dagster_home"))
    running = {}
    if sandboxes:
        from activations.config import load_syncs
        from activations.sandboxes import sandbox_credentials, start_all, sync_environment

        token, secret = sandbox_credentials()  # the same documented tokens as `outflow sandbox`
        try:
            running = start_all(token=token, webhook_secret=secret, port_base=8790)
        except OSError as exc:
            raise OutflowError(f"cannot start the sandboxes on ports 8790-8801 ({exc}); use --no-sandboxes") from None
        env.update(sync_environment(running, load_syncs()))
        console.print(f"sandboxes: {', '.join(f'{k} {sb.url}' for k, sb in running.items())}")
    dagster = Path(sys.executable).parent / "dagster"
    workspace = settings.PROJECT_ROOT / "workspace.yaml"
    cmd = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)]
    try:
        subprocess.run(cmd, env=env, cwd=settings.PROJECT_ROOT, check=False)
    except KeyboardInterrupt:
        pass
    finally:
        for sandbox in running.values():
            sandbox.stop()


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise OutflowError(f"{option}: '{value}' is not a date; use YYYY-MM-DD") from None


def _rows_table(title: str, rows: dict[str, int], rejected: dict[str, int] | None = None) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    if rejected is not None:
        table.add_column("set aside", justify="right")
    for name, count in rows.items():
        extra = [f"{rejected.get(name, 0):,}"] if rejected is not None else []
        table.add_row(name, f"{count:,}", *extra)
    console.print(table)


def _summary_table(summary, seconds: dict[str, float]) -> None:
    table = Table(title="Summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    if summary.people_true is not None:
        table.add_row("people (generated)", f"{summary.people_true:,}")
    for name, count in summary.rows.items():
        table.add_row(f"raw {name}", f"{count:,}")
    table.add_row("identifiers", f"{summary.identifiers:,}")
    table.add_row("  shared or blocked", f"{summary.shared_or_blocked:,}")
    table.add_row("profiles (persons)", f"{summary.persons:,}")
    table.add_row("  known (beyond a cookie)", f"{summary.known_profiles:,}")
    table.add_row("largest cluster", f"{summary.largest_cluster}")
    if summary.accuracy:
        table.add_row("identity precision (pairwise)", f"{summary.accuracy.precision:.4f}")
        table.add_row("identity recall (pairwise)", f"{summary.accuracy.recall:.4f}")
    for stage, secs in seconds.items():
        table.add_row(f"time: {stage}", f"{secs:.1f} s")
    console.print(table)


#: what an engine says when a query names a table or schema the warehouse does not have (DuckDB, PostgreSQL)
_MISSING_RELATION = re.compile(
    r'(?:Table|Schema|View) with name "?([\w.]+)"? does not exist|relation "([\w.]+)" does not exist', re.IGNORECASE
)


def _missing_relation(exc: QueryError) -> str | None:
    """One line for a query on a table an empty or unbuilt warehouse lacks, naming the command to run first."""
    from outflow.contract import TABLES
    from outflow.warehouse import MISSING_HINT

    found = _MISSING_RELATION.search(str(exc))
    if not found:
        return None
    name = found.group(1) or found.group(2)
    if name.removeprefix("raw.") in TABLES or name == "raw":
        return f"the warehouse has no {name}: {MISSING_HINT}"
    return f"the warehouse has no {name}: run `outflow build` first (after `outflow load DIR` or `outflow generate`)"


def run() -> None:
    """Entry point: user mistakes become one red line and exit code 1."""
    line_buffered()
    try:
        try:
            app(args=hoist_output_option(sys.argv[1:]))
        except SystemExit as exc:
            if exc.code in (0, None):
                console.finish()  # --output json: the tables, once the command has succeeded
            raise
    except OutflowError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except QueryError as exc:
        line = _missing_relation(exc)
        if line is None:
            raise
        console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
