"""The hard-mode identity graph (outflow generate --hard), built by the real dbt build on DuckDB, alone in a file."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from outflow.contract import GATING_TABLES
from outflow.generate import generate
from outflow.identity_graph import Override
from outflow.load import load_directory
from outflow.pipeline import build
from outflow.warehouse import connect

GRAPH = ("int_identity__nodes", "int_identity__edges")


def graph_only(built: Path, graph: Path) -> Path:
    """A DuckDB file holding only the identity graph of the warehouse `built`."""
    with connect(built, read_only=True) as src, connect(graph) as dest:
        for table in GRAPH:
            dest.write_arrow(f"main.{table}", src.fetch_arrow(f"select * from main.{table}"), mode="replace")
    return graph


def hard_graph(root: Path, people: int = 600, seed: int = 7) -> Path:
    """Generate hard-mode data in `root`, load and build it, and return a file holding only its identity graph."""
    generate(people, seed, root / "data", hard=True)
    with connect(root / "built.duckdb") as con:
        load_directory(con, root / "data", allow_empty=GATING_TABLES)
    build(warehouse=root / "built.duckdb")
    return graph_only(root / "built.duckdb", root / "graph.duckdb")


def split_and_merge(person_map: pl.DataFrame) -> list[Override]:
    """Overrides for a person map (identifier_key, person_id): a never-merge that splits the largest person, and a
    forced merge of two persons with an email each."""
    mapped = person_map.filter(pl.col("person_id").is_not_null())
    largest = mapped.group_by("person_id").len().sort(["len", "person_id"], descending=[True, False])["person_id"][0]
    split = mapped.filter(pl.col("person_id") == largest)["identifier_key"].sort()
    emails = (
        mapped.filter(pl.col("identifier_key").str.starts_with("email:"))
        .group_by("person_id")
        .agg(pl.col("identifier_key").min())
        .sort("identifier_key")["identifier_key"]
    )
    return [
        Override("never_merge", split[0], split[-1], "two people"),
        Override("merge", emails[0], emails[1], "one person"),
    ]
