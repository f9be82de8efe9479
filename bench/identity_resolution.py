"""Identity resolution benchmarks.

The whole path (default): generated data loaded into a DuckDB warehouse, then, timed, the real dbt models and the
identity step, signatures -> pairs -> nodes -> edges -> components -> person map -> signature persons, at a number of
identifiers (~4 per generated person). Reports each stage's wall seconds (dbt start-up: the rest of the wall time,
dbt's own start and parse), the whole path's wall and CPU seconds
(DuckDB's threads included), the load average before and after (the machine is shared) and peak memory. Data
preparation (generate, load, phone and email normalization, the staging models) runs in a process of its own
and is not timed; the timed path runs in another, so its peak memory is its own.

    .venv/bin/python bench/identity_resolution.py --identifiers 1000000,10000000   # the issue's sizes
    .venv/bin/python bench/identity_resolution.py --identifiers 20000 --hard       # small, with the hard cases
    .venv/bin/python bench/identity_resolution.py --identifiers 100000 --per-model # each model's CPU too
    .venv/bin/python bench/identity_resolution.py --warehouse /tmp/id10m/w.duckdb  # a warehouse prepared earlier

`--warehouse` times the path on a copy of a warehouse `--prepare` made earlier (its staging models built again,
untimed); without held-back events (prepared before they existed) there is no second build.

The newest 1% of the web and email events is held back from the first run; the "second build" then appends them,
restages them (untimed) and times the same path again on the warehouse the first run left (its person map kept):
what a daily build pays for identity, the models incremental where they are.

After the path it builds `fct_events` (the first consumer of the persons, outside the path's figures) and reports
its CPU; `--per-model` then runs each model's compiled SQL again, one at a time, for its own CPU seconds.

`--step-only`: the identity step alone (`resolve_person_map`) on a prepared warehouse whose dbt models are
built, untimed: its CPU and wall seconds from scratch, then again on the same data with the map it wrote.

    .venv/bin/python bench/identity_resolution.py --step-only --identifiers 100000,1000000

`--resolve-only`: Outflow's `resolve` on graphs already in memory (string keys -> guards -> components -> stable
person ids) beside scipy's connected_components and networkx, checking that all find the same clusters:

    .venv/bin/python bench/identity_resolution.py --resolve-only                 # 100k, 1M, 10M
    .venv/bin/python bench/identity_resolution.py --resolve-only --sizes 100000  # one size
    .venv/bin/python bench/identity_resolution.py --resolve-only --demo          # also time `outflow demo`
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

TYPES = np.array(["email", "phone", "crm_id", "user_id", "cookie"])
EDGES_PER_ID = 1.4


def make_graph(n_ids: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Persons of 1-8 identifiers; a spanning tree per person plus repeated links up to ~1.4 edges/id;
    0.5% of cookies shared between two persons (households), which the guard must catch."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(0.3, n_ids), 8)
    sizes = sizes[np.cumsum(sizes) <= n_ids]
    sizes = np.append(sizes, n_ids - sizes.sum()) if sizes.sum() < n_ids else sizes
    person = np.repeat(np.arange(len(sizes)), sizes)
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    ids = np.arange(n_ids)
    pos = ids - start
    # identifier types: the first of a person is a user_id, later ones cycle through the types
    types = np.where(pos == 0, "user_id", TYPES[(ids * 7 + pos) % 5])
    types = np.where((pos > 0) & (types == "user_id"), "email", types)
    tree = pos > 0
    src = [ids[tree]]
    dst = [start[tree] + rng.integers(0, np.maximum(pos[tree], 1))]
    extra = int((EDGES_PER_ID * n_ids - int(tree.sum())) * 1.5)  # some picks land on themselves and drop
    pick = rng.integers(0, n_ids, extra)
    src.append(pick)
    dst.append(start[pick] + rng.integers(0, sizes[person[pick]]))
    # households: a cookie of one person also seen with the user_id of another
    cookies = ids[types == "cookie"]
    shared = rng.choice(cookies, size=max(1, len(cookies) // 200), replace=False)
    other = rng.integers(0, n_ids, len(shared))
    src.append(shared)
    dst.append(start[other])
    src, dst = np.concatenate(src), np.concatenate(dst)
    keep = src != dst
    keys = pl.Series("key", ids).cast(pl.String)
    key = pl.select(pl.concat_str(pl.Series(types), pl.lit(":"), keys)).to_series()
    nodes = pl.DataFrame({"key": key, "type": types})
    edges = pl.DataFrame({"a": key.gather(src[keep]), "b": key.gather(dst[keep])})
    return nodes, edges


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since the last reset) of this process, in MB."""
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+)", f.read(), re.M).group(1)) / 1024


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Relabel each component by its smallest member, so partitions can be compared."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    boundaries = np.flatnonzero(np.diff(sorted_labels)) + 1
    firsts = np.minimum.reduceat(order, np.r_[0, boundaries])
    comp_index = np.cumsum(np.r_[0, np.diff(sorted_labels) != 0])
    out = np.empty_like(labels)
    out[order] = firsts[comp_index]
    return out


def run_one(method: str, n_ids: int, out: Path) -> None:
    nodes, edges = make_graph(n_ids)
    result: dict = {"method": method, "identifiers": n_ids, "edges": edges.height}
    if method == "outflow":
        from outflow.identity import resolve

        t = time.perf_counter()
        resolved = resolve(nodes, edges)
        result["seconds"] = time.perf_counter() - t
        result["persons"] = resolved["person_id"].n_unique()
        result["shared"] = int(resolved["is_shared"].sum())
        labelled = resolved.select("key", pl.col("person_id").alias("label"))
    else:
        from outflow.identity import IdentityConfig, prepare_graph

        # the peers get the same usable edges: the guard is applied beforehand and not timed
        g = prepare_graph(nodes, edges, IdentityConfig())
        src, dst, n = g.ia, g.ib, g.index.height
        t = time.perf_counter()
        if method == "scipy":
            from scipy.sparse import coo_matrix
            from scipy.sparse.csgraph import connected_components as scc

            graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
            _, labels = scc(graph, directed=False)
        else:
            import networkx as nx

            graph = nx.Graph()
            graph.add_nodes_from(range(n))
            graph.add_edges_from(zip(src.tolist(), dst.tolist(), strict=False))
            labels = np.empty(n, dtype=np.int64)
            for i, comp in enumerate(nx.connected_components(graph)):
                labels[list(comp)] = i
        result["seconds"] = time.perf_counter() - t
        result["note"] = "components only (guard applied beforehand, not timed)"
        labels = pl.Series(labels.astype(np.int64)).cast(pl.String)
        labelled = g.index.select("key").with_columns(label=pl.when(pl.Series(g.shared)).then(None).otherwise(labels))
    if n_ids <= 2_000_000:  # cluster labels in key order; shared identifiers are singletons
        ranked = (
            labelled.sort("key")
            .with_row_index("i")
            .select(
                pl.when(pl.col("label").is_null())
                .then(-1 - pl.col("i").cast(pl.Int64))
                .otherwise(pl.col("label").rank("dense").cast(pl.Int64))
            )
        )
        np.save(out.with_suffix(".npy"), _canonical(ranked.to_series().to_numpy()))
    result["peak_mb"] = _peak_mb()
    out.write_text(json.dumps(result))


def time_demo() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OUTFLOW_WAREHOUSE": f"{tmp}/w.duckdb", "OUTFLOW_DATA_DIR": f"{tmp}/data"}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from outflow.cli import run; run()", "demo"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        return time.perf_counter() - t


IDENTIFIERS_PER_PERSON = 4  # about what the generator gives (emails, phones, CRM ids, user ids, cookies)
PATH_STAGES = {
    # per signature (int_identity__signatures, __signature_occurrences), or per record before (__occurrences)
    "occurrences": ["int_identity__occurrences", "int_identity__signatures", "int_identity__signature_occurrences"],
    "pairs": ["int_identity__pairs"],
    "nodes": ["int_identity__nodes"],
    "edges": ["int_identity__fuzzy_links", "int_identity__edges"],
}


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def prepare(people: int, hard: bool, work: Path) -> None:
    """Generate, load and normalize (the phone and email steps), then stage the sources: everything the identity
    path reads. Staging (copying the raw events into stg_* tables, incremental in a daily build) is not identity
    work, so it is not timed with the path."""
    from outflow.build import run_dbt
    from outflow.contract import GATING_TABLES
    from outflow.generate import generate
    from outflow.load import load_directory
    from outflow.phones import normalize_emails, normalize_phones
    from outflow.pipeline import PHONE_STEP_INPUTS
    from outflow.warehouse import connect

    warehouse = work / "w.duckdb"
    generate(people, 7, work / "data", hard=hard)
    with connect(warehouse) as wh:
        load_directory(wh, work / "data", allow_empty=GATING_TABLES)
        # the newest 1% of the events arrives a day later, for the second build
        for table, column in HELD_BACK.items():
            cut = f"(select quantile_disc({column}, 0.99) from raw.{table})"
            wh.execute(f"create table raw.held_{table} as select * from raw.{table} where {column} > {cut}")
            wh.execute(f"delete from raw.{table} where {column} > {cut}")
    run_dbt(["seed"], warehouse=warehouse)
    run_dbt(["build", "--select", " ".join(PHONE_STEP_INPUTS)], warehouse=warehouse)
    with connect(warehouse) as wh:
        normalize_phones(wh)
        normalize_emails(wh)
    run_dbt(["run", "--select", f"{IDENTITY_PATH},{STAGING}"], warehouse=warehouse)


HELD_BACK = {"web_events": "received_at", "email_events": "occurred_at"}  # each table's load key
IDENTITY_PATH = "+int_identity__edges"  # the models the identity step reads, and everything they read
STAGING = "stg_*"  # the staging models among them, built by `prepare`
PERSONS_STAGE = "int_identity__identifiers int_identity__signature_persons int_identity__record_persons"


def model_cpu(warehouse: Path, names: list[str]) -> dict[str, list]:
    """Each model's compiled SQL (as the path's dbt run compiled it) run again as `create table ... as` through
    outflow.warehouse, one at a time: the CPU seconds of this process (DuckDB's threads included) and the rows.
    A view's figure is what reading it costs."""
    from outflow.settings import dbt_target_dir
    from outflow.warehouse import connect

    compiled = dbt_target_dir() / "compiled"
    out: dict[str, list] = {}
    with connect(warehouse) as wh:
        views = {r[0] for r in wh.execute("select table_name from information_schema.tables "
                                          "where table_type = 'VIEW'").fetchall()}  # fmt: skip
        for name in names:
            path = next(compiled.rglob(f"{name}.sql"), None)
            if path is None:
                continue
            c = _cpu()
            wh.execute(f"create or replace table main.bench_model_cpu as {path.read_text()}")
            cpu = _cpu() - c
            rows = wh.execute("select count(*) from main.bench_model_cpu").fetchall()[0][0]
            wh.execute("drop table main.bench_model_cpu")
            out[name + (" (view)" if name in views else "")] = [cpu, rows]
    return out


def run_path(work: Path, out: Path, per_model: bool = False, second: bool = False) -> None:
    """Time the identity path through the real dbt models and the identity step; write the figures as JSON.
    `second`: first append the held-back events and restage them (untimed), then time the path again on what the
    first run left (its tables and person map): a daily build."""
    from outflow.build import run_dbt
    from outflow.person_map import PERSON_MAP, resolve_person_map
    from outflow.phones import normalize_emails, normalize_phones
    from outflow.warehouse import connect

    warehouse = work / "w.duckdb"
    with connect(warehouse) as wh:
        if second:
            for table in HELD_BACK:
                wh.execute(f"insert into raw.{table} select * from raw.held_{table}")
        else:  # from scratch: no earlier map to keep ids from
            wh.execute(f"drop table if exists {PERSON_MAP}")
    if second:
        from outflow.pipeline import PHONE_STEP_INPUTS

        run_dbt(["run", "--select", " ".join(PHONE_STEP_INPUTS)], warehouse=warehouse)
        with connect(warehouse) as wh:
            normalize_phones(wh)
            normalize_emails(wh)
        run_dbt(["run", "--select", f"{IDENTITY_PATH},{STAGING}"], warehouse=warehouse)
    result: dict = {"load_start": os.getloadavg()[0], "stages": {}}
    t0, c0 = time.perf_counter(), _cpu()
    run = run_dbt(["run", "--select", IDENTITY_PATH, "--exclude", STAGING], warehouse=warehouse)
    seconds = {r["name"]: r["seconds"] for r in run.results}
    result["dbt_seconds"] = dict(seconds)
    names = list(seconds)
    for stage, models in PATH_STAGES.items():
        result["stages"][stage] = sum(seconds.get(m, 0.0) for m in models)
    t = time.perf_counter()
    rss_before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the identity step's own peak: the high-water mark reset here
    with connect(warehouse) as wh:
        resolve_person_map(wh)
    result["stages"]["person map"] = time.perf_counter() - t
    result["step_peak_mb"], result["step_rss_before_mb"] = _status_mb("VmHWM"), rss_before
    # record persons: a view over the signature persons (int_identity__record_persons, read by the evaluation);
    # a table of every record before the graph was built on signatures, so the same selection times both
    run = run_dbt(["run", "--select", PERSONS_STAGE], warehouse=warehouse)
    names += [r["name"] for r in run.results]
    result["dbt_seconds"].update({r["name"]: r["seconds"] for r in run.results})
    result["stages"]["persons"] = sum(r["seconds"] for r in run.results)
    result["wall"], result["cpu"] = time.perf_counter() - t0, _cpu() - c0
    result["stages"]["dbt start-up"] = result["wall"] - sum(result["stages"].values())
    result["load_end"] = os.getloadavg()[0]
    result["peak_mb"] = _peak_mb()
    # the first consumer, outside the path: fct_events joins every event to its person
    c = _cpu()
    run_dbt(["run", "--select", "fct_events"], warehouse=warehouse)
    result["fct_events_cpu"] = _cpu() - c
    if per_model:
        result["models"] = model_cpu(warehouse, [n for n in names if not n.startswith("stg_")] + ["fct_events"])
    with connect(warehouse) as wh:
        one = lambda sql: wh.execute(sql).fetchall()[0][0]  # noqa: E731
        result["identifiers"] = one("select count(*) from main.int_identity__nodes")
        result["edges"] = one("select count(*) from main.int_identity__edges")
        if one("select count(*) from information_schema.tables where table_name = 'int_identity__signatures'"):
            result["records"] = one("select sum(records) from main.int_identity__signatures")
            result["signatures"] = one("select count(*) from main.int_identity__signatures")
        else:  # the models before the graph was built on signatures: one occurrence row per record and identifier
            result["records"] = result["signatures"] = one(
                "select count(distinct record_id) from main.int_identity__occurrences"
            )
        result["persons"] = one("select count(distinct person_id) from main.int_identity__record_persons")
    out.write_text(json.dumps(result))


def stage(work: Path) -> None:
    """The normalization lookups and the staging models the identity path reads, built again on a warehouse
    prepared earlier (untimed): its lookups may predate the present normalization step."""
    from outflow.build import run_dbt
    from outflow.phones import normalize_emails, normalize_phones
    from outflow.pipeline import PHONE_STEP_INPUTS
    from outflow.warehouse import connect

    warehouse = work / "w.duckdb"
    run_dbt(["run", "--select", " ".join(PHONE_STEP_INPUTS)], warehouse=warehouse)
    with connect(warehouse) as wh:
        normalize_phones(wh)
        normalize_emails(wh)
    run_dbt(["run", "--select", f"{IDENTITY_PATH},{STAGING}"], warehouse=warehouse)


def _has_held_back(warehouse: Path) -> bool:
    from outflow.warehouse import connect

    with connect(warehouse) as wh:
        return wh.table_exists("raw", f"held_{next(iter(HELD_BACK))}")


def whole_path(sizes: list[int], hard: bool, per_model: bool = False, reuse: Path | None = None) -> None:
    rows = []
    for n in [0] if reuse else sizes:
        people = max(50, n // IDENTIFIERS_PER_PERSON)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            me = [sys.executable, __file__]
            if reuse:  # a copy of a warehouse prepared earlier, staged again (untimed)
                shutil.copyfile(reuse, work / "w.duckdb")
                subprocess.run([*me, "--stage", str(work)], check=True)
            else:
                subprocess.run([*me, "--prepare", str(people), str(work), *(["--hard"] if hard else [])], check=True)
            path = [*me, "--path", str(work), str(work / "out.json"), *(["--per-model"] if per_model else [])]
            subprocess.run(path, check=True)
            second = None
            if _has_held_back(work / "w.duckdb"):  # a warehouse prepared before the held-back events has none
                # a failed second build is reported, not raised: the first build's figures are printed all the same
                done = subprocess.run([*me, "--path", str(work), str(work / "second.json"), "--second"])
                second = json.loads((work / "second.json").read_text()) if done.returncode == 0 else done.returncode
            rows.append({"people": people, **json.loads((work / "out.json").read_text()), "second": second})
    mix = "hard" if hard else "easy"
    print(f"Identity resolution, the whole path through dbt and the identity step (DuckDB, {mix} mix)")
    stages = list(rows[0]["stages"]) if rows else []
    head = f"{'identifiers':>11} {'edges':>10} {'records':>10} {'signatures':>10} {'persons':>9} "
    head += " ".join(f"{s:>14}" for s in stages)
    print(head + f" {'wall s':>7} {'CPU s':>7} {'load':>9} {'peak MB':>8}")
    for r in rows:
        cells = " ".join(f"{r['stages'][s]:>14.2f}" for s in stages)
        print(
            f"{r['identifiers']:>11,} {r['edges']:>10,} {r['records']:>10,} {r['signatures']:>10,} "
            f"{r['persons']:>9,} {cells} "
            f"{r['wall']:>7.2f} {r['cpu']:>7.2f} {r['load_start']:>4.1f}-{r['load_end']:<4.1f} {r['peak_mb']:>8.0f}"
        )
    for r in rows:
        print(f"fct_events after the path, full build: {r['fct_events_cpu']:.2f} CPU s")
        print(
            f"identity step's own peak: {r['step_peak_mb']:.0f} MB (resident before it: {r['step_rss_before_mb']:.0f})"
        )
        for name, (cpu, n) in r.get("models", {}).items():
            print(f"  {name:<45} {cpu:>7.2f} CPU s {n:>12,} rows")
        s = r["second"]
        if s is None:
            continue
        if isinstance(s, int):
            print(f"second build, after 1% new events: FAILED (exit {s}; its error is above)")
            continue
        print(
            f"second build, after 1% new events ({s['records'] - r['records']:,} records): {s['wall']:.2f} wall s, "
            f"{s['cpu']:.2f} CPU s ({100 * s['cpu'] / r['cpu']:.0f}% of the first), load "
            f"{s['load_start']:.1f}-{s['load_end']:.1f}, peak {s['peak_mb']:.0f} MB (the identity step's own "
            f"{s['step_peak_mb']:.0f}); dbt seconds, first and second:"
        )
        for name, sec in r["dbt_seconds"].items():
            print(f"  {name:<45} {sec:>7.2f} {s['dbt_seconds'].get(name, 0.0):>7.2f}")
    big = [r for r in rows if r["identifiers"] >= 9_000_000]
    if big:
        print(f"goal: 10M identifiers end to end in <= 60 s: {'met' if big[0]['wall'] <= 60 else 'NOT met'} "
              f"({big[0]['wall']:.1f} s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identifiers", default="1000000,10000000", help="the whole path at these sizes")
    parser.add_argument("--hard", action="store_true", help="generate the hard identity cases too")
    parser.add_argument("--per-model", action="store_true", help="also each model's CPU seconds, one at a time")
    parser.add_argument("--resolve-only", action="store_true", help="resolve() in memory beside scipy/networkx")
    parser.add_argument("--step-only", action="store_true", help="the identity step alone on a prepared warehouse")
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="--resolve-only sizes")
    parser.add_argument("--demo", action="store_true", help="also time `outflow demo` at the default size")
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "N", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", nargs=2, metavar=("PEOPLE", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--path", nargs=2, metavar=("DIR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--step", nargs=2, metavar=("DIR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--second", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stage", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help="time the path on a copy of this prepared warehouse instead")
    args = parser.parse_args()
    if args.one:
        run_one(args.one[0], int(args.one[1]), Path(args.one[2]))
    elif args.prepare:
        prepare(int(args.prepare[0]), args.hard, Path(args.prepare[1]))
    elif args.stage:
        stage(Path(args.stage))
    elif args.path:
        run_path(Path(args.path[0]), Path(args.path[1]), args.per_model, args.second)
    elif args.step:
        run_step(Path(args.step[0]), Path(args.step[1]))
    elif args.step_only:
        step_only([int(s) for s in args.identifiers.split(",")], args.hard)
    elif args.resolve_only:
        resolve_only(args)
    else:
        whole_path([int(s) for s in args.identifiers.split(",")], args.hard, args.per_model, args.warehouse)


def resolve_only(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            methods = ["outflow", "scipy"] + (["networkx"] if n <= 100_000 else [])
            for method in methods:
                out = Path(tmp) / f"{method}-{n}.json"
                subprocess.run([sys.executable, __file__, "--one", method, str(n), str(out)], check=True)
                rows.append(json.loads(out.read_text()))
            same = ""
            if n <= 2_000_000:
                ours = np.load(Path(tmp) / f"outflow-{n}.npy")
                same = all(np.array_equal(ours, np.load(Path(tmp) / f"{m}-{n}.npy")) for m in methods[1:])
                same = "yes" if same else "NO"
            rows[-1]["same_clusters"] = same
    print(f"{'identifiers':>12} {'edges':>11} {'method':>9} {'seconds':>8} {'peak MB':>8}  notes")
    for r in rows:
        notes = r.get("note", "end to end: keys → guard → components → person ids")
        if r.get("same_clusters"):
            notes += f"; same clusters as outflow: {r['same_clusters']}"
        print(
            f"{r['identifiers']:>12,} {r['edges']:>11,} {r['method']:>9} {r['seconds']:>8.2f} "
            f"{r['peak_mb']:>8.0f}  {notes}"
        )
    big = [r for r in rows if r["method"] == "outflow" and r["identifiers"] >= 10_000_000]
    if big:
        print(
            f"goal: 10M identifiers end to end in <= 30 s: "
            f"{'met' if big[0]['seconds'] <= 30 else 'NOT met'} ({big[0]['seconds']:.1f} s)"
        )
    if args.demo:
        print(f"make demo at the default size (2,000 people): {time_demo():.1f} s wall")


def run_step(work: Path, out: Path) -> None:
    """Time the identity step alone, from scratch and then again with the map it wrote; figures as JSON."""
    from outflow.person_map import SCHEMA, resolve_person_map
    from outflow.warehouse import connect

    # the models the step reads, built by dbt in a child process, so that dbt's memory is not counted
    build = (
        "import sys, pathlib; from outflow.build import run_dbt; run_dbt(['run', '--select', '+int_identity__edges'], "
    )
    subprocess.run(
        [sys.executable, "-c", build + "warehouse=pathlib.Path(sys.argv[1]))", str(work / "w.duckdb")], check=True
    )
    with connect(work / "w.duckdb") as wh:
        wh.execute(f"drop schema if exists {SCHEMA} cascade")
    result: dict = {"load_start": os.getloadavg()[0]}
    for run in ("first", "again"):
        t0, c0 = time.perf_counter(), _cpu()
        with connect(work / "w.duckdb") as wh:
            result["identifiers"] = resolve_person_map(wh)
        result[run] = {"wall": time.perf_counter() - t0, "cpu": _cpu() - c0}
    result["load_end"] = os.getloadavg()[0]
    result["peak_mb"] = _peak_mb()
    out.write_text(json.dumps(result))


def step_only(sizes: list[int], hard: bool) -> None:
    print("The identity step alone (resolve_person_map, DuckDB): from scratch, then again with its own map")
    print(f"{'identifiers':>11} {'first CPU s':>11} {'wall s':>7} {'again CPU s':>11} {'wall s':>7} {'load':>9} "
          f"{'peak MB':>8}")  # fmt: skip
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work, me = Path(tmp), [sys.executable, __file__]
            people = str(max(50, n // IDENTIFIERS_PER_PERSON))
            subprocess.run([*me, "--prepare", people, tmp, *(["--hard"] if hard else [])], check=True)
            subprocess.run([*me, "--step", tmp, str(work / "out.json")], check=True)
            r = json.loads((work / "out.json").read_text())
        print(
            f"{r['identifiers']:>11,} {r['first']['cpu']:>11.2f} {r['first']['wall']:>7.2f} {r['again']['cpu']:>11.2f} "
            f"{r['again']['wall']:>7.2f} {r['load_start']:>4.1f}-{r['load_end']:<4.1f} {r['peak_mb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
