"""Predictive scores in the warehouse: table `main.ml_lead_scores`, declared as a dbt source.

One row per person for the latest scoring run (the table is replaced in one transaction):
person_id, score (probability of a first order in the next 30 days), decile (1 = top 10%),
reason_codes (JSON array of {"feature", "contribution"}), model_version, scored_at.
"""

from __future__ import annotations

import datetime as dt
import logging

import polars as pl

from outflow.warehouse import Warehouse, split_name

log = logging.getLogger(__name__)

SCORES_TABLE = "main.ml_lead_scores"
SCORES_DDL = f"""create table if not exists {SCORES_TABLE} (
    person_id varchar not null,
    score double precision,
    decile integer,
    reason_codes varchar,
    model_version varchar,
    scored_at timestamp
)"""
SCORE_COLUMNS = ["person_id", "score", "decile", "reason_codes", "model_version", "scored_at"]


def ensure_scores_table(con: Warehouse) -> None:
    """Create main.ml_lead_scores empty if it does not exist yet."""
    con.execute("create schema if not exists main")
    con.execute(SCORES_DDL)


def write_scores(
    con: Warehouse,
    scores: pl.DataFrame,
    model_version: str,
    scored_at: dt.datetime | None = None,
) -> int:
    """Replace main.ml_lead_scores with `scores` (person_id, score, decile, reason_codes)."""
    scored_at = scored_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frame = scores.select(
        pl.col("person_id").cast(pl.String),
        pl.col("score").cast(pl.Float64),
        pl.col("decile").cast(pl.Int32),
        pl.col("reason_codes").cast(pl.String) if "reason_codes" in scores.columns else pl.lit(None, pl.String),
        pl.lit(model_version).alias("model_version"),
        pl.lit(scored_at).cast(pl.Datetime("us")).alias("scored_at"),
    )
    ensure_scores_table(con)
    with con.transaction():
        con.execute(f"delete from {SCORES_TABLE}")
        con.write_arrow(SCORES_TABLE, frame, mode="append")
    log.info("wrote %d scores (model %s) to %s", frame.height, model_version, SCORES_TABLE)
    return frame.height


def read_scores(con: Warehouse) -> pl.DataFrame:
    """The current scores (an empty frame when the table does not exist yet)."""
    exists = con.table_exists("main", "ml_lead_scores")
    if not exists:
        return pl.DataFrame(
            schema={
                "person_id": pl.String,
                "score": pl.Float64,
                "decile": pl.Int32,
                "reason_codes": pl.String,
                "model_version": pl.String,
                "scored_at": pl.Datetime("us"),
            }
        )
    return con.fetch_polars(f"select {', '.join(SCORE_COLUMNS)} from {SCORES_TABLE}")


def write_entity_scores(
    con: Warehouse, table: str, scores: pl.DataFrame, id_column: str, model_version: str, scored_at: dt.datetime
) -> int:
    """Replace `table` with a model config's scores: the entity key, score, decile, reason_codes,
    model_version and scored_at (one transaction)."""
    frame = scores.select(
        pl.col(id_column),
        pl.col("score").cast(pl.Float64),
        pl.col("decile").cast(pl.Int32),
        pl.col("reason_codes").cast(pl.String),
        pl.lit(model_version).alias("model_version"),
        pl.lit(scored_at).cast(pl.Datetime("us")).alias("scored_at"),
    )
    schema, _ = split_name(table, "main")
    con.create_schema(schema)
    with con.transaction():
        con.write_arrow(table, frame, mode="replace")
    log.info("wrote %d scores (model %s) to %s", frame.height, model_version, table)
    return frame.height
