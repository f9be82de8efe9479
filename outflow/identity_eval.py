"""Evaluation of identity resolution against a record-level truth, and warnings that need no truth.

`outflow identity --truth FILE` reads a user's truth (record id -> true person, optional tag and identifiers),
compares it with the warehouse's answer (main.int_identity__record_persons) and prints pairwise precision and
recall overall, per source and per tag, beside the exact-match ceiling: the share of true pairs that exact
matching could link, and how much of that the resolver links. With or without truth it lists the largest
clusters with the identifiers that bridge them, and warns about suspicious clusters.

Pairs: two records form a pair when they belong to the same cluster; a record the warehouse gives no person is
a cluster of its own. Per source and per tag, a pair counts when at least one of its records is in the group.

Exact-match ceiling: records joined through identifiers that only one true person uses (as the truth's
`identifiers` column gives them, else as normalized in the warehouse, main.int_identity__occurrences). A
resolver that matched exactly on perfectly normalized values and never merged through a shared value would
link exactly these pairs. Nothing here imports Dagster.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import polars as pl

from outflow.errors import OutflowError
from outflow.identity import connected_components
from outflow.warehouse import Warehouse

TRUTH_COLUMNS = ("record_id", "person")
OPTIONAL_COLUMNS = ("tag", "identifiers")
STRONG_TYPES = ("email", "crm_id", "user_id")
WEAK_TYPES = ("cookie", "device", "phone")


# ---- reading a truth file ---------------------------------------------------------------------------------------
def read_truth(path: Path) -> pl.DataFrame:
    """record_id, person, tag, identifiers from a CSV or Parquet file (or a folder of Parquet parts).

    A malformed file is one OutflowError naming the file, the row (1 = the first data row) and the column.
    """
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise OutflowError(f"{path}: a truth folder needs *.parquet files (record_id, person[, tag])")
        frames = [(p, _read_parquet(p)) for p in parts]
    elif not path.is_file():
        raise OutflowError(f"{path}: no such truth file (CSV or Parquet with columns record_id, person[, tag])")
    elif path.suffix.lower() == ".csv":
        frames = [(path, _read_csv(path))]
    elif path.suffix.lower() in (".parquet", ".pq"):
        frames = [(path, _read_parquet(path))]
    else:
        raise OutflowError(f"{path}: a truth file is .csv or .parquet")
    checked = [_check(p, f) for p, f in frames]
    truth = pl.concat(checked)
    dup = truth.with_row_index("row").filter(pl.col("record_id").is_duplicated()).head(2)
    if dup.height:
        where = path if len(frames) == 1 else f"{path} (all parts)"
        raise OutflowError(
            f"{where}, row {dup['row'][1] + 1}, column record_id: {dup['record_id'][1]!r} appears twice (first on "
            f"row {dup['row'][0] + 1}); give each record one true person"
        )
    return truth


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader error is the file's fault, said in one line
        raise OutflowError(f"{path}: not a readable Parquet file: {str(exc).splitlines()[0]}") from None


def _read_csv(path: Path) -> pl.DataFrame:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise OutflowError(f"{path}: empty; a truth file needs a header row record_id,person[,tag]")
            header = [h.strip() for h in header]
            rows = []
            for row in reader:
                if len(row) != len(header):
                    if not any(cell.strip() for cell in row):
                        continue
                    raise OutflowError(
                        f"{path}, row {reader.line_num - 1}: {len(row)} fields where the header has {len(header)} "
                        f"({','.join(header)})"
                    )
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise OutflowError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise OutflowError(f"{path}, row {reader.line_num - 1}: not valid CSV: {exc}") from None
    return pl.DataFrame(rows, schema=dict.fromkeys(header, pl.String), orient="row")


def _check(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in TRUTH_COLUMNS if c not in frame.columns]
    if missing:
        raise OutflowError(
            f"{path}: no column {missing[0]!r} (a truth file has record_id and person, optionally tag and "
            f"identifiers; it has {', '.join(frame.columns) or 'none'})"
        )
    for col in OPTIONAL_COLUMNS:
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    stripped = lambda c: pl.col(c).cast(pl.String).str.strip_chars()  # noqa: E731
    frame = frame.select(  # an empty cell is a missing value
        *(pl.when(stripped(c) != "").then(stripped(c)).alias(c) for c in TRUTH_COLUMNS + OPTIONAL_COLUMNS)
    )
    for col in TRUTH_COLUMNS:
        bad = frame.with_row_index("row").filter(pl.col(col).is_null()).head(1)
        if bad.height:
            raise OutflowError(f"{path}, row {bad['row'][0] + 1}, column {col}: empty; every record needs a {col}")
    bad = frame.with_row_index("row").filter(~pl.col("record_id").str.contains(":")).head(1)
    if bad.height:
        raise OutflowError(
            f"{path}, row {bad['row'][0] + 1}, column record_id: {bad['record_id'][0]!r} is not a record id; write "
            "<source>:<id> as in main.int_identity__record_persons (crm:<contact_id>, web:<event_id>, "
            "order:<order_id>, email:<event_id>, consent:<event_id>)"
        )
    return frame


# ---- scores -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupScores:
    group: str
    records: int
    true_pairs: int
    predicted_pairs: int
    precision: float
    recall: float
    ceiling_recall: float  # share of true pairs exact matching could link
    of_ceiling: float  # share of those the resolver links


def _pairs(frame: pl.DataFrame, cols: list[str]) -> int:
    if not frame.height:
        return 0
    n = frame.group_by(cols).len()["len"].cast(pl.Int64)
    return int((n * (n - 1) // 2).sum())


def _scores(group: str, frame: pl.DataFrame, inside: pl.Series | None = None) -> GroupScores:
    """Counts over the pairs with at least one record inside the group: all pairs minus the pairs outside."""
    combos = {"t": ["t"], "p": ["p"], "pt": ["p", "t"], "c": ["c"], "pc": ["p", "c"]}
    counts = {k: _pairs(frame, v) for k, v in combos.items()}
    if inside is not None:
        outside = frame.filter(~inside)
        counts = {k: counts[k] - _pairs(outside, v) for k, v in combos.items()}
    ratio = lambda a, b: counts[a] / counts[b] if counts[b] else 1.0  # noqa: E731
    return GroupScores(
        group=group,
        records=frame.height if inside is None else int(inside.sum()),
        true_pairs=counts["t"],
        predicted_pairs=counts["p"],
        precision=ratio("pt", "p"),
        recall=ratio("pt", "t"),
        ceiling_recall=ratio("c", "t"),
        of_ceiling=ratio("pc", "c"),
    )


@dataclass(frozen=True)
class LinkScores:
    group: str
    pairs: int
    same_person: int

    @property
    def precision(self) -> float:
        return self.same_person / self.pairs if self.pairs else 1.0


@dataclass
class Evaluation:
    groups: list[GroupScores]
    fuzzy: list[LinkScores]  # the fuzzy stage's own pairs against the truth (empty when the stage is off)
    truth_records: int
    unidentified: int  # truth records with no identifier in the warehouse (or not in it), counted unlinked
    unidentified_examples: list[str]

    @property
    def overall(self) -> GroupScores:
        return self.groups[0]


def evaluate(con: Warehouse, truth: pl.DataFrame) -> Evaluation:
    """Pairwise precision and recall of the warehouse's persons over the truth's records (see the module doc)."""
    occurrences = con.fetch_polars(
        "select distinct record_id, source, identifier_type || ':' || identifier_value as key "
        "from main.int_identity__occurrences"
    )
    predicted = con.fetch_polars("select record_id, person_id from main.int_identity__record_persons")
    sources = occurrences.select("record_id", "source").unique("record_id")
    unknown = truth.join(sources, on="record_id", how="anti")
    if unknown.height == truth.height:
        raise OutflowError(
            f"none of the truth's {truth.height:,} record ids is a record of the warehouse (e.g. "
            f"{truth['record_id'][0]!r}); write <source>:<id> as in main.int_identity__record_persons"
        )
    # a record with no usable identifier is in no occurrence: it counts, unlinked, under its id's source
    frame = (
        truth.join(sources, on="record_id", how="left")
        .with_columns(source=pl.coalesce("source", pl.col("record_id").str.split(":").list.first()))
        .join(predicted, on="record_id", how="left")
        .with_row_index("i")
        .with_columns(
            t=pl.col("person"),
            # a record without a person is a cluster of its own
            p=pl.coalesce(pl.col("person_id"), pl.format("record:{}", pl.col("record_id"))),
        )
    )
    frame = frame.with_columns(c=pl.Series(_ceiling_clusters(frame, occurrences)))
    groups = [_scores("all", frame)]
    for source in sorted(frame["source"].unique().to_list()):
        groups.append(_scores(f"source: {source}", frame, frame["source"] == source))
    tags = frame["tag"].drop_nulls().unique().sort().to_list()
    if len(tags) > 1 or (tags and tags != ["base"]):
        for tag in tags:
            groups.append(_scores(f"tag: {tag}", frame, frame["tag"] == tag))
    return Evaluation(groups, _fuzzy_scores(con, truth), truth.height, unknown.height,
                      unknown["record_id"].head(3).to_list())  # fmt: skip


def _fuzzy_scores(con: Warehouse, truth: pl.DataFrame) -> list[LinkScores]:
    """Precision of the fuzzy stage's accepted links (overall and per tag of either record) and of its review."""
    from outflow.identity_fuzzy import LINKS, REVIEW

    out = []
    for table, label in ((LINKS, "fuzzy links accepted"), (REVIEW, "fuzzy pairs for review")):
        if not con.table_exists(*table.split(".")):
            continue
        pairs = con.fetch_polars(f"select record_id_l, record_id_r from {table}")
        side = lambda s: truth.select(  # noqa: E731
            pl.col("record_id").alias(f"record_id_{s}"), pl.col("person").alias(f"person_{s}"),
            pl.col("tag").alias(f"tag_{s}"),
        )  # fmt: skip
        judged = pairs.join(side("l"), on="record_id_l").join(side("r"), on="record_id_r")
        judged = judged.with_columns(same=pl.col("person_l") == pl.col("person_r"))
        out.append(LinkScores(label, judged.height, int(judged["same"].sum())))
        if table == LINKS:
            tags = sorted(set(judged["tag_l"].drop_nulls()) | set(judged["tag_r"].drop_nulls()))
            for tag in tags:
                hit = judged.filter((pl.col("tag_l") == tag) | (pl.col("tag_r") == tag))
                out.append(LinkScores(f"{label}: tag {tag}", hit.height, int(hit["same"].sum())))
    return out


def _ceiling_clusters(frame: pl.DataFrame, occurrences: pl.DataFrame) -> np.ndarray:
    """Each record's cluster under exact matching on identifiers that only one true person uses."""
    given = (
        frame.filter(pl.col("identifiers").is_not_null())
        .select("record_id", pl.col("identifiers").str.split(" ").alias("key"))
        .explode("key")
        .filter(pl.col("key") != "")
    )
    from_warehouse = occurrences.join(frame.filter(pl.col("identifiers").is_null()), on="record_id", how="semi")
    links = pl.concat([given, from_warehouse.select("record_id", "key")]).unique()
    links = links.join(frame.select("record_id", "i", "t"), on="record_id")
    clean = links.group_by("key").agg(pl.col("t").n_unique().alias("people")).filter(pl.col("people") == 1)
    links = links.join(clean, on="key", how="semi")
    keys = links.select("key").unique().with_row_index("k", offset=frame.height)
    links = links.join(keys, on="key")
    n = frame.height + keys.height
    labels = connected_components(links["i"].to_numpy(), links["k"].to_numpy(), n)
    return labels[: frame.height]


# ---- clusters and warnings (no truth needed) ------------------------------------------------------------------
@dataclass(frozen=True)
class Cluster:
    person_id: str
    records: int
    identifiers: int
    true_persons: int | None
    bridges: list[str]  # "key (splits a+b)"


@dataclass(frozen=True)
class Warning_:
    kind: str
    persons: int
    examples: list[str]


def _person_graph(con: Warehouse, person_ids: list[str]) -> dict[str, nx.Graph]:
    """The identifier graph of each listed person."""
    if not person_ids:
        return {}
    con.write_arrow("_eval_persons", pl.DataFrame({"person_id": person_ids}), mode="replace", temporary=True)
    nodes = con.fetch_polars(
        "select i.identifier_key as key, i.identifier_type as type, i.person_id from main.int_identity__identifiers i "
        "inner join _eval_persons p on p.person_id = i.person_id"
    )
    edges = con.fetch_polars("select a, b from main.int_identity__edges")
    owner = dict(zip(nodes["key"], nodes["person_id"], strict=True))
    graphs: dict[str, nx.Graph] = {p: nx.Graph() for p in person_ids}
    for key, typ, person in nodes.iter_rows():
        graphs[person].add_node(key, type=typ)
    inside = edges.filter(pl.col("a").is_in(nodes["key"].implode()) & pl.col("b").is_in(nodes["key"].implode()))
    for a, b in inside.iter_rows():
        if owner[a] == owner[b]:
            graphs[owner[a]].add_edge(a, b)
    con.execute("drop table if exists _eval_persons")
    return graphs


def bridges(graph: nx.Graph, types: tuple[str, ...] | None = None) -> list[tuple[str, list[int]]]:
    """Identifiers whose removal splits the graph into two or more parts that each hold a strong identifier,
    with the parts' sizes, largest split first. `types`: only identifiers of these types are candidates."""
    found = []
    for node in nx.articulation_points(graph):
        if types and graph.nodes[node].get("type") not in types:
            continue
        rest = graph.subgraph(n for n in graph if n != node)
        parts = [p for p in nx.connected_components(rest) if any(rest.nodes[n]["type"] in STRONG_TYPES for n in p)]
        if len(parts) >= 2:
            found.append((node, sorted((len(p) for p in parts), reverse=True)))
    return sorted(found, key=lambda f: (-f[1][1], f[0]))


def largest_clusters(con: Warehouse, top: int, truth: pl.DataFrame | None = None) -> list[Cluster]:
    """The `top` persons with the most records, with the identifiers that bridge them."""
    big = con.fetch_polars(
        "select person_id, count(*) as records from main.int_identity__record_persons "
        f"group by person_id order by records desc, person_id limit {int(top)}"
    )
    graphs = _person_graph(con, big["person_id"].to_list())
    true_persons: dict[str, int] = {}
    if truth is not None and big.height:
        members = con.fetch_polars("select record_id, person_id from main.int_identity__record_persons").join(
            big.select("person_id"), on="person_id", how="semi"
        )
        counted = members.join(truth.select("record_id", "person"), on="record_id").group_by("person_id")
        true_persons = dict(counted.agg(pl.col("person").n_unique()).iter_rows())
    out = []
    for person_id, records in big.iter_rows():
        graph = graphs[person_id]
        found = bridges(graph)[:3]
        out.append(
            Cluster(
                person_id,
                records,
                graph.number_of_nodes(),
                true_persons.get(person_id, 0) if truth is not None else None,
                [f"{key} (splits {'+'.join(map(str, sizes))})" for key, sizes in found],
            )
        )
    return out


def suspicious(con: Warehouse, examples: int = 3) -> list[Warning_]:
    """Persons that hold several CRM ids or user ids, and persons held together by one weak identifier."""
    out = []
    for typ, label in (("user_id", "several user ids"), ("crm_id", "several CRM ids (duplicates, or a false merge)")):
        rows = con.fetch_polars(
            "select person_id, count(*) as n from main.int_identity__identifiers "
            f"where person_id is not null and identifier_type = '{typ}' "
            "group by person_id having count(*) > 1 order by n desc, person_id"
        )
        if rows.height:
            out.append(Warning_(label, rows.height, [f"{p} ({n})" for p, n in rows.head(examples).iter_rows()]))
    # weak identifiers that are the only link between parts holding strong identifiers, among the persons with
    # two strong identifiers of one type (two emails, CRM ids or user ids)
    candidates = con.fetch_polars(
        "select distinct person_id from main.int_identity__identifiers where person_id is not null "
        "and identifier_type in ('email', 'crm_id', 'user_id') group by person_id, identifier_type "
        "having count(*) > 1 order by person_id"
    )["person_id"].to_list()
    bridged = []
    for person_id, graph in sorted(_person_graph(con, candidates).items()):
        found = bridges(graph, WEAK_TYPES)
        if found:
            bridged.append(f"{person_id} via {found[0][0]}")
    if bridged:
        out.append(Warning_("held together by one cookie, device or phone", len(bridged), bridged[:examples]))
    return out


# ---- the report `outflow identity` prints ---------------------------------------------------------------------
def print_report(truth: pl.DataFrame | None, truth_name: str | None, top: int = 10) -> Evaluation | None:
    """Print the evaluation (against `truth`, from read_truth, else the generator's truth.records when the
    warehouse has it), the largest clusters and the warnings; return the evaluation, if any."""
    from rich.table import Table

    from outflow.console import console
    from outflow.warehouse import connect

    with connect() as con:
        if truth is None and con.table_exists("truth", "records"):
            truth = con.fetch_polars("select record_id, person, tag, identifiers from truth.records")
            truth_name = "truth.records"
        evaluation = evaluate(con, truth) if truth is not None else None
        clusters = largest_clusters(con, top, truth)
        warnings = suspicious(con)
    if evaluation is not None:
        table = Table(title=f"Pairwise precision and recall over records, against {truth_name}")
        for col in ("group", "records", "true pairs", "linked pairs", "precision", "recall", "exact ceiling",
                    "of ceiling"):  # fmt: skip
            table.add_column(col, justify="left" if col == "group" else "right")
        for g in evaluation.groups:
            table.add_row(
                g.group,
                f"{g.records:,}",
                f"{g.true_pairs:,}",
                f"{g.predicted_pairs:,}",
                f"{g.precision:.4f}",
                f"{g.recall:.4f}",
                f"{g.ceiling_recall:.4f}",
                f"{g.of_ceiling:.4f}",
            )
        console.print(table)
        if evaluation.fuzzy:
            table = Table(title="The fuzzy stage's record pairs against the truth")
            for col in ("pairs", "count", "same person", "precision"):
                table.add_column(col, justify="left" if col == "pairs" else "right")
            for f in evaluation.fuzzy:
                table.add_row(f.group, f"{f.pairs:,}", f"{f.same_person:,}", f"{f.precision:.4f}")
            console.print(table)
        if evaluation.unidentified:
            console.print(
                f"{evaluation.unidentified:,} truth records have no usable identifier in the warehouse, or are not "
                f"in it (e.g. {', '.join(evaluation.unidentified_examples)}): counted as unlinked",
                highlight=False,
                soft_wrap=True,
            )
    table = Table(title=f"Largest clusters (top {top} by records) and the identifiers that bridge them")
    for col in ("person_id", "records", "identifiers", *(["true persons"] if truth is not None else []), "bridges"):
        table.add_column(col, justify="right" if col in ("records", "identifiers", "true persons") else "left")
    for c in clusters:
        extra = [f"{c.true_persons:,}"] if truth is not None else []
        table.add_row(c.person_id, f"{c.records:,}", f"{c.identifiers:,}", *extra, "; ".join(c.bridges) or "-")
    console.print(table)
    table = Table(title="Suspicious clusters")
    for col in ("warning", "persons", "examples"):
        table.add_column(col, justify="right" if col == "persons" else "left")
    for w in warnings:
        table.add_row(w.kind, f"{w.persons:,}", "; ".join(w.examples))
    if warnings:
        console.print(table)
    else:
        console.print("no suspicious clusters", highlight=False)
    return evaluation
