"""The main job as plain functions: generate → load → dbt build → measure. The CLI and Dagster call these."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from outflow import settings
from outflow.asof import AsOf, resolve_as_of
from outflow.build import (
    SKIP_UNIT_TESTS,
    DbtRun,
    NodeEvent,
    parse_manifest,
    run_dbt,
    selected_relations,
    selected_sources,
)
from outflow.contract import GATING_TABLES, TABLES
from outflow.errors import OutflowError
from outflow.generate import DEFAULT_AS_OF, generate
from outflow.identity import PairScores, warehouse_accuracy
from outflow.identity_fuzzy import LINKS, REVIEW, clear_fuzzy, fuzzy_config, link_fuzzy
from outflow.load import LoadResult, load_directory
from outflow.person_map import (
    CHANGED_IDENTIFIERS,
    CHANGES,
    EDGES_SEEN,
    PERSON_IDS,
    PERSON_MAP,
    load_overrides,
    resolve_person_map,
)
from outflow.phones import COUNTRIES, EMAILS, LOOKUP, clear_lookups, normalize_emails, normalize_phones
from outflow.warehouse import Warehouse, connect, table_exists

log = logging.getLogger(__name__)


@dataclass
class StageTimer:
    seconds: dict[str, float] = field(default_factory=dict)
    on_stage: Callable[[str], None] | None = None  # told each stage's name as it starts (the demo's progress)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.on_stage is not None:
            self.on_stage(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start


def generate_and_load(
    people: int,
    seed: int,
    warehouse: Path | None = None,
    data_dir: Path | None = None,
    as_of: date = DEFAULT_AS_OF,
) -> LoadResult:
    out = data_dir or settings.data_dir()
    generate(people, seed, out, as_of=as_of)
    with connect(warehouse) as con:
        # the generator is the source of consent and erasures: an empty list is what it generated
        return load_directory(con, out, allow_empty=GATING_TABLES)


# The steps that run between dbt models (on every engine, through the warehouse interface) split the dbt
# build in three: what the phone step reads, then what the identity step reads, then the rest.
PHONE_STEP_INPUTS = ["+stg_phones__distinct", "+stg_countries__distinct", "+stg_emails__distinct"]
IDENTITY_STEP_INPUTS = ["+int_identity__nodes", "+int_identity__edges"]
# the fuzzy identity stage, when on, runs between these and the rest of the identity step's inputs
FUZZY_STEP_INPUTS = ["+int_identity__nodes"]
# What each step writes, the dbt sources its readers declare: a selection that holds one of them (`+dim_profiles`
# holds the person map) holds the step's inputs too, as dbt's `+` means, since dbt cannot see a step's inputs.
STEP_SOURCES = [
    ({LOOKUP, COUNTRIES, EMAILS}, PHONE_STEP_INPUTS),
    ({LINKS, REVIEW}, FUZZY_STEP_INPUTS),
    ({PERSON_MAP, EDGES_SEEN, PERSON_IDS, CHANGES, CHANGED_IDENTIFIERS}, IDENTITY_STEP_INPUTS),
]


def through_steps(terms: list[str], warehouse: Path | None, manifest: Any) -> list[str]:
    """The selection's terms, with the inputs of every step whose output the selection holds upstream (again for
    the steps before those inputs, until none is added)."""
    terms = list(terms)
    while True:
        held = selected_sources(terms, warehouse, manifest)
        more = [i for outputs, inputs in STEP_SOURCES if outputs & held for i in inputs if i not in terms]
        if not more:
            return terms
        terms += list(dict.fromkeys(more))  # (the fuzzy and identity steps share an input)


def _parents(node: Any) -> list[str]:
    return getattr(node.depends_on, "nodes", [])  # (a seed's or a snapshot's names macros only)


def views_over(nodes: set[str], manifest: Any) -> list[Any]:
    """The views that read one of `nodes`, directly or through other views, and are not in `nodes` themselves. On
    PostgreSQL dbt rebuilds a table or a view (or drops a table, for a full refresh) with `drop ... cascade`, which
    drops these views with it: a selection that rebuilds the relation must rebuild them too."""
    children: dict[str, list[str]] = {}
    for uid, node in manifest.nodes.items():
        for parent in _parents(node):
            children.setdefault(parent, []).append(uid)

    def is_view(uid: str) -> bool:
        node = manifest.nodes[uid]
        return node.resource_type == "model" and node.config.materialized == "view"

    found: dict[str, None] = {}
    todo = [uid for uid in nodes if uid in manifest.nodes]
    while todo:
        for child in children.get(todo.pop(), []):
            if is_view(child) and child not in nodes and child not in found:
                found[child] = None
                todo.append(child)
    return [manifest.nodes[uid] for uid in sorted(found)]


def require_parents(con: Warehouse, nodes: set[str], manifest: Any) -> None:
    """One line naming what to build first when a selection (`nodes`: its models, seeds, snapshots and sources) reads
    a relation it does not hold and the warehouse does not have (a mart selected without `+` on a warehouse not yet
    built), before anything is written. The steps' outputs are left to the steps, which write them in the build."""
    step_outputs = set().union(*(outputs for outputs, _ in STEP_SOURCES))
    for uid in sorted(n for n in nodes if n in manifest.nodes):
        node = manifest.nodes[uid]
        for parent_id in _parents(node):
            parent = manifest.nodes.get(parent_id) or manifest.sources.get(parent_id)
            if parent_id in nodes or parent is None or getattr(parent.config, "materialized", None) == "ephemeral":
                continue
            if parent.resource_type == "source" and f"{parent.source_name}.{parent.name}" in step_outputs:
                continue
            name = parent.identifier if parent.resource_type == "source" else parent.alias
            if not con.table_exists(parent.schema, name):
                raise OutflowError(
                    f"{node.name} reads {parent.schema}.{name}, which the warehouse {con.location} does not have: "
                    f"build what it reads first (`outflow build --select +{node.name}`)"
                )


def require_raw_tables(con: Warehouse) -> None:
    """One line naming what to run when the warehouse has not been loaded: a build needs every raw table."""
    missing = [name for name in TABLES if not con.table_exists("raw", name)]
    if missing:
        raise OutflowError(
            f"the warehouse {con.location} has no raw.{missing[0]}: run `outflow load DIR` (your files) or "
            "`outflow generate` first"
        )


def build(
    warehouse: Path | None = None,
    select: str | None = None,
    as_of: AsOf | str | None = None,
    on_node: Callable[[NodeEvent], None] | None = None,
    full_refresh: bool = False,
    unit_tests: bool = False,
    exclude: str | None = None,
    steps: bool = True,
    manifest: Any | None = None,
) -> DbtRun:
    """`dbt build` the project against the warehouse, at the as-of date (`as_of`, else OUTFLOW_AS_OF, else the loaded
    dataset's date; see outflow/asof.py), and the phone and identity steps where their inputs are built. With
    `select`, each part builds only what the selection holds (with the inputs of a step whose output it holds
    upstream: `+dim_profiles` builds everything the identity and phone steps read), and a step runs only when the
    part before it built something. Returns the three parts' results as one run.

    The incremental models computed from the raw data alone (dbt tag `derived`: event staging, fct_events) add
    only what changed since the last build; `full_refresh` drops them and empties the normalization lookups first,
    so they are rebuilt from scratch, with the same result. The history tables are kept either way
    (docs/incremental.md).

    dbt's unit tests check the models' logic on fixed fixtures, not the data: a production build leaves them out,
    as dbt recommends, and `unit_tests` runs them too (each before its model, as `dbt build` orders them). CI runs
    every one of them on each engine (the parity tests).

    `exclude` (dbt's --exclude) is left out of every part. `steps=False` builds the selection in one dbt command,
    with no step: for a selection that lies wholly after the identity step (the demo's `int_lead_scores__predictive+`,
    once the model has scored). `manifest` (outflow.build.parse_manifest) is the project already loaded, for several
    builds to share."""
    load_overrides()  # a malformed override row stops the build before dbt runs, in one line
    with connect(warehouse) as con:
        require_raw_tables(con)
        if not isinstance(as_of, AsOf):
            as_of = resolve_as_of(as_of, con)
    log.info("dbt build %s", as_of.describe())
    dbt_as_of = as_of.dbt_var
    left_out = exclude.split() if exclude else []
    runs: list[DbtRun] = []
    # the project loaded once for every dbt command of the build (docs/performance.md, "dbt's own cost per build")
    if manifest is None:
        manifest = parse_manifest(warehouse)
    terms = select.split() if select else []
    if terms and steps:
        terms = through_steps(terms, warehouse, manifest)
    derived = None  # a full refresh drops every derived model, or with a selection those it holds
    if terms:
        nodes = selected_relations(terms, left_out, warehouse, manifest)
        with connect(warehouse) as con:
            require_parents(con, nodes, manifest)
            if manifest.metadata.adapter_type == "postgres":  # (a view not built yet has nothing to lose)
                terms += [v.name for v in views_over(nodes, manifest) if con.table_exists(v.schema, v.alias)]
        derived = sorted(n.name for n in map(manifest.nodes.get, nodes) if n is not None and "derived" in n.tags)
    if full_refresh:
        drop = ["run-operation", "outflow_drop_derived"]
        drop += ["--args", json.dumps({"names": derived})] if derived is not None else []
        run_dbt(drop, warehouse=warehouse, as_of=dbt_as_of, manifest=manifest)

    def dbt_build(phase: list[str], earlier: list[str]) -> bool:
        # a test runs in the part that builds the last of its parents (buildable), never before them
        selection = [f"{t},{p}" for t in terms for p in phase] if terms and phase else (phase or terms)
        args = ["build", "--indirect-selection", "buildable"]
        args += ["--select", " ".join(selection)] if selection else []
        args += ["--exclude", " ".join(earlier + left_out)] if earlier or left_out else []
        args += [] if unit_tests else SKIP_UNIT_TESTS
        # manifest.json is the one the parse wrote: no part writes it again, each writes its run_results.json
        runs.append(
            run_dbt(
                args, warehouse=warehouse, as_of=dbt_as_of, on_node=on_node, manifest=manifest, write_manifest=False
            )
        )
        return bool(runs[-1].results)

    if not steps:
        dbt_build([], [])
        return runs[0]
    if dbt_build(PHONE_STEP_INPUTS, []) or not terms:
        with connect(warehouse) as wh:
            if full_refresh:  # (only when the step runs again: the staging views read the lookups)
                clear_lookups(wh)
            normalize_phones(wh)
            normalize_emails(wh)
    done = PHONE_STEP_INPUTS
    if fuzzy_config().enabled:
        if dbt_build(FUZZY_STEP_INPUTS, done) or not terms:
            with connect(warehouse) as wh:
                link_fuzzy(wh)
        done = done + FUZZY_STEP_INPUTS
    else:
        with connect(warehouse) as wh:
            clear_fuzzy(wh)
    if dbt_build(IDENTITY_STEP_INPUTS, done) or not terms:
        with connect(warehouse) as wh:
            resolve_person_map(wh)
    dbt_build([], IDENTITY_STEP_INPUTS + done)
    return DbtRun(success=all(r.success for r in runs), results=[x for r in runs for x in r.results])


@dataclass
class WarehouseSummary:
    people_true: int | None
    identifiers: int
    persons: int
    known_profiles: int
    shared_or_blocked: int
    largest_cluster: int
    accuracy: PairScores | None
    rows: dict[str, int]


def summarize(warehouse: Path | None = None) -> WarehouseSummary:
    with connect(warehouse, read_only=True) as con:  # a report: other readers may share the file
        ident = con.execute(
            "select count(*), count(distinct person_id), count(*) filter (where person_id is null), "
            "coalesce(max(cluster_size), 0) from main.int_identity__identifiers"
        ).fetchall()[0]
        known = con.execute("select count(*) filter (where is_known) from main.dim_profiles").fetchall()[0][0]
        rows = {
            t: con.execute(f"select count(*) from raw.{t}").fetchall()[0][0]
            for t in (
                "crm_contacts",
                "web_events",
                "email_events",
                "orders",
                "consent_events",
                "erasure_requests",
            )
        }
        has_truth = table_exists(con, "truth", "identifiers")
        people = con.execute("select count(*) from truth.people").fetchall()[0][0] if has_truth else None
        accuracy = warehouse_accuracy(con) if has_truth else None
    return WarehouseSummary(
        people_true=people,
        identifiers=ident[0],
        persons=ident[1],
        known_profiles=known,
        shared_or_blocked=ident[2],
        largest_cluster=ident[3],
        accuracy=accuracy,
        rows=rows,
    )
