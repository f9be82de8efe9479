"""The facts a marketer reads, as plain queries through the warehouse interface (portable SQL): audience sizes over
time and members after consent and holdout, each sync's health, each model's evaluation, and everything about one
person. The HTML site (``outflow report``), ``outflow audience export`` and ``outflow person explain`` share them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from outflow.errors import OutflowError, did_you_mean

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

BUILD_FIRST = "run `outflow build` first (after `outflow load DIR` or `outflow generate`)"
MEMBER_COLUMNS = ("person_id", "email", "first_name", "last_name", "country", "lifecycle_stage", "channel", "purpose")


def _require(con: Warehouse, table: str) -> None:
    if not con.table_exists("main", table):
        raise OutflowError(f"the warehouse has no main.{table}: {BUILD_FIRST}")


def audiences(con: Warehouse) -> list[str]:
    _require(con, "audience_exposure_history")
    return [
        r[0] for r in con.execute("SELECT DISTINCT audience FROM main.audience_exposure_history ORDER BY 1").fetchall()
    ]


def audience_sizes(con: Warehouse) -> pl.DataFrame:
    """(audience, day, members): each audience's treated members at the end of every day it changed, from the
    exposure history (entries and exits)."""
    _require(con, "audience_exposure_history")
    stays = con.fetch_polars(
        "SELECT audience, CAST(entered_at AS DATE) AS entered, CAST(exited_at AS DATE) AS exited "
        "FROM main.audience_exposure_history WHERE measurement_group = 'treatment'"
    )
    moves = pl.concat(
        [
            stays.select("audience", day="entered", delta=pl.lit(1)),
            stays.filter(pl.col("exited").is_not_null()).select("audience", day="exited", delta=pl.lit(-1)),
        ]
    )
    return (
        moves.group_by("audience", "day")
        .agg(pl.col("delta").sum())
        .sort("audience", "day")
        .with_columns(members=pl.col("delta").cum_sum().over("audience"))
        .select("audience", "day", "members")
    )


def audience_members(con: Warehouse, audience: str) -> pl.DataFrame:
    """Who is in the audience now after consent, exclusions and holdout: the rows its syncs send."""
    _require(con, "int_audience__activation")
    names = audiences(con)
    if audience not in names:
        raise OutflowError(f"no audience named {audience!r}{did_you_mean(audience, names)}")
    return con.fetch_polars(
        f"SELECT {', '.join(MEMBER_COLUMNS)} FROM main.int_audience__activation WHERE audience = ? ORDER BY person_id",
        [audience],
    )


def sync_health(con: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(each sync's latest run with its counts, the reasons rows were rejected, set aside or deferred); none
    before a sync has run. A run log from before deferred rows shows none deferred."""
    from activations.rows import empty_frame, reasons, state_for_reading
    from activations.state import SCHEMA

    q = state_for_reading(con)
    counts = ("added", "changed", "removed", "invalid", "acked", "rejected", "deferred")
    if q is None:
        return empty_frame("sync_name", "started_at", "status", *counts, "error"), reasons(con, q)
    deferred = "r.deferred" if "deferred" in con.columns(SCHEMA, "sync_runs") else "CAST(NULL AS BIGINT)"
    latest = con.fetch_polars(
        "SELECT r.sync_name, r.started_at, r.status, r.added, r.changed, r.removed, r.invalid, r.acked, r.rejected, "
        f"{deferred} AS deferred, r.error FROM {q}.sync_runs r WHERE r.dry_run = FALSE AND r.started_at = ("
        f"SELECT max(r2.started_at) FROM {q}.sync_runs r2 WHERE r2.sync_name = r.sync_name AND r2.dry_run = FALSE) "
        "ORDER BY r.sync_name"
    )
    return latest, reasons(con, q)


@dataclass
class ModelReport:
    name: str
    version: str
    metrics: dict[str, Any]
    scores: list[float] = field(default_factory=list)


def model_reports(con: Warehouse) -> list[ModelReport]:
    """Each model config with a trained version: its holdout evaluation and the current scores' distribution."""
    from models_ml.config import load_configs
    from models_ml.configured import model_meta, registry_for
    from models_ml.errors import ModelError

    out = []
    for cfg in load_configs():
        try:
            version, meta, _ = model_meta(registry_for(cfg))
        except ModelError:
            continue  # not trained yet
        table = "ml_lead_scores" if cfg.kind == "lead_score" else (cfg.scores or "").removeprefix("main.")
        scores: list[float] = []
        if table and con.table_exists("main", table) and "score" in con.columns("main", table):
            scores = [r[0] for r in con.execute(f"SELECT score FROM main.{table} WHERE score IS NOT NULL").fetchall()]
        out.append(ModelReport(cfg.name, version, meta.get("metrics", {}).get("holdout", {}), scores))
    return out


def segment_descriptions() -> dict[str, str]:
    """Each declared segment's description: why its members qualify."""
    from outflow import settings
    from outflow.segments.errors import SegmentError
    from outflow.segments.spec import load_segments

    try:
        return {n: s.description for n, s in load_segments(settings.DBT_PROJECT_DIR / "segments").items()}
    except SegmentError:  # a broken declaration is `outflow segment validate`'s to report
        return {}


@dataclass
class Person:
    person_id: str
    profile: dict[str, Any]
    segments: pl.DataFrame
    audiences: pl.DataFrame
    consent: pl.DataFrame
    scores: dict[str, Any] | None
    deliveries: pl.DataFrame
    held: pl.DataFrame


def person(
    con: Warehouse, person_id: str, deliveries: pl.DataFrame | None = None, held: pl.DataFrame | None = None
) -> Person:
    """Everything about one person: profile, current segments and audiences (with their group), consent per
    channel and purpose, scores with reason codes, what was sent where and when (the row log; ``deliveries``:
    their rows of ``people_log``, read once for many people) and what a sync holds back now, with why (rejected,
    set aside or deferred; ``held``: their rows of ``people_held``)."""
    from activations.rows import people_held, row_log, state_for_reading

    _require(con, "dim_profiles")
    prof = con.fetch_polars("SELECT * FROM main.dim_profiles WHERE person_id = ?", [person_id])
    if not prof.height:
        raise OutflowError(f"no person {person_id!r} in main.dim_profiles; person ids look like p_0123456789abcdef")
    segments = con.fetch_polars(
        "SELECT segment, entered_at FROM main.segment_membership_history WHERE person_id = ? AND exited_at IS NULL "
        "ORDER BY segment",
        [person_id],
    )
    why = segment_descriptions()
    segments = segments.with_columns(why=pl.col("segment").replace_strict(why, default=None, return_dtype=pl.String))
    groups = con.fetch_polars(
        "SELECT audience, measurement_group AS group_, entered_at FROM main.audience_exposure_history "
        "WHERE person_id = ? AND exited_at IS NULL ORDER BY audience",
        [person_id],
    ).rename({"group_": "group"})
    consent = con.fetch_polars(
        "SELECT channel, purpose, status, decided_at, source FROM main.dim_consent WHERE person_id = ? "
        "ORDER BY channel, purpose",
        [person_id],
    )
    scores = None
    if con.table_exists("main", "fct_lead_scores"):
        row = con.fetch_polars(
            "SELECT lead_score, grade, fit_score, engagement_score, predictive_score, predictive_decile, "
            "predictive_reason_codes AS reason_codes, model_version FROM main.fct_lead_scores WHERE person_id = ?",
            [person_id],
        )
        scores = row.to_dicts()[0] if row.height else None
    if deliveries is None or held is None:
        q = state_for_reading(con)
        deliveries = row_log(con, q, person_id=person_id) if deliveries is None else deliveries
        held = people_held(con, q, [person_id]) if held is None else held
    deliveries = deliveries.drop("run_id", "person_id", strict=False)
    held = held.drop("person_id", strict=False)
    return Person(person_id, prof.to_dicts()[0], segments, groups, consent, scores, deliveries, held)


def reason_codes(value: Any) -> list[str]:
    """The reason codes as a list of short texts, whatever form the warehouse keeps them in."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, dict):
        value = [f"{k}: {v}" for k, v in value.items()]
    return [json.dumps(v) if isinstance(v, dict) else str(v) for v in value]


def text(value: Any) -> str:
    """A cell as text: timestamps to the second, None as empty."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)
