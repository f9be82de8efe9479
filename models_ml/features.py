"""Point-in-time lead-scoring features from the warehouse, computed with polars.

For a cutoff time `c`:
- features use only events with `occurred_at < c` (from `main.fct_events`) and the person's
  firmographic attributes as the CRM held them just before `c` (from `main.dim_profile_history`, built
  on a dbt snapshot); the population is the people first seen before `c` (`main.dim_profiles`);
- the label is whether the person places an order in `(c, c + horizon]` (their first one, when
  `exclude_customers` is on: people who already ordered before `c` are left out).

A person whose CRM record was created or last changed after `c`, with no earlier version in the
history, has no attributes at `c` (missing values): the model never learns from values it could not
have known then.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import polars as pl

from models_ml.errors import ModelError
from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

WINDOWS_DAYS = (7, 30, 90)
DECAY_HALF_LIFE_DAYS = 14.0
PROFILE_COLUMNS = ("person_id", "first_seen_at")
ATTRIBUTE_COLUMNS = ("job_title", "employee_count", "industry", "country")
EVENT_COLUMNS = ("person_id", "source", "event_type", "occurred_at", "page_path", "amount")
ID_COLUMN = "person_id"
TIME_COLUMN = "cutoff"
LABEL_COLUMN = "label"
# Columns of the feature table that are not features.
NON_FEATURES = (ID_COLUMN, TIME_COLUMN, LABEL_COLUMN, "country_group")

SENIORITY_PATTERNS: tuple[tuple[str, str], ...] = (
    ("c_level", r"(?i)\b(ceo|cto|cfo|coo|cmo|cio|chief|founder|owner|president)\b"),
    ("vp", r"(?i)\b(vp|vice president|svp|evp)\b"),
    ("director", r"(?i)\b(director|head)\b"),
    ("manager", r"(?i)\b(manager|lead|principal)\b"),
)


def _table_exists(con: Warehouse, schema: str, name: str) -> bool:
    return con.table_exists(schema, name)


def _require(con: Warehouse, schema: str, name: str) -> None:
    if not _table_exists(con, schema, name):
        raise ModelError(f"warehouse table {schema}.{name} is missing; run `outflow build` first")


def _to_datetime(value: dt.datetime | dt.date | str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise ModelError(f"cutoff {value!r} is not an ISO date or timestamp") from exc
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo else value
    return dt.datetime.combine(value, dt.time())


def load_events(con: Warehouse, before: dt.datetime, after: dt.datetime | None = None) -> pl.DataFrame:
    """Events with `after <= occurred_at < before` (the filter is pushed down to the warehouse)."""
    _require(con, "main", "fct_events")
    sql = f"select {', '.join(EVENT_COLUMNS)} from main.fct_events where person_id is not null and occurred_at < ?"
    params: list[Any] = [before]
    if after is not None:
        sql += " and occurred_at >= ?"
        params.append(after)
    df = con.fetch_polars(sql, params)
    return df.with_columns(pl.col("occurred_at").cast(pl.Datetime("us")), pl.col("amount").cast(pl.Float64))


def load_profiles(con: Warehouse) -> pl.DataFrame:
    _require(con, "main", "dim_profiles")
    df = con.fetch_polars(f"select {', '.join(PROFILE_COLUMNS)} from main.dim_profiles")
    return df.with_columns(pl.col("first_seen_at").cast(pl.Datetime("us")))


def load_attribute_history(con: Warehouse) -> pl.DataFrame:
    """person_id, the firmographic attributes, valid_from and valid_to (null = current)."""
    _require(con, "main", "dim_profile_history")
    cols = ", ".join(("person_id", *ATTRIBUTE_COLUMNS, "valid_from", "valid_to"))
    df = con.fetch_polars(f"select {cols} from main.dim_profile_history")
    return df.with_columns(
        pl.col("employee_count").cast(pl.Float64),
        pl.col("valid_from").cast(pl.Datetime("us")),
        pl.col("valid_to").cast(pl.Datetime("us")),
    )


def attributes_at(history: pl.DataFrame, c: dt.datetime) -> pl.DataFrame:
    """Per person, the latest attribute version that was valid just before `c`."""
    valid = history.filter((pl.col("valid_from") < c) & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= c)))
    latest = valid.sort("person_id", "valid_from").unique("person_id", keep="last")
    return latest.select("person_id", *ATTRIBUTE_COLUMNS)


def seniority_expr(col: str = "job_title") -> pl.Expr:
    expr: pl.Expr = pl.when(pl.col(col).is_null()).then(pl.lit(None, dtype=pl.String))
    for level, pattern in SENIORITY_PATTERNS:
        expr = expr.when(pl.col(col).str.contains(pattern)).then(pl.lit(level))
    return expr.otherwise(pl.lit("individual"))


ORDER_EVENT_TYPES = ("order_completed", "completed")


def _is_order() -> pl.Expr:
    """A completed order (fct_events names order events `order_<status>`)."""
    return (pl.col("source") == "order") & pl.col("event_type").is_in(ORDER_EVENT_TYPES)


def features_at(
    events: pl.DataFrame,
    profiles: pl.DataFrame,
    history: pl.DataFrame,
    cutoff: dt.datetime | dt.date | str,
    *,
    exclude_customers: bool = False,
    half_life_days: float = DECAY_HALF_LIFE_DAYS,
) -> pl.DataFrame:
    """One row per person first seen before `cutoff`, with features from events strictly before it."""
    c = _to_datetime(cutoff)
    ev = events.filter(pl.col("occurred_at") < c).with_columns(
        ((pl.lit(c) - pl.col("occurred_at")).dt.total_seconds() / 86400.0).alias("_age")
    )
    is_web = pl.col("source") == "web"
    is_email = pl.col("source") == "email"
    is_open = is_email & (pl.col("event_type") == "open")
    is_click = is_email & (pl.col("event_type") == "click")
    is_pricing = is_web & pl.col("page_path").fill_null("").str.contains("(?i)pricing")
    is_order = _is_order()
    engaged = is_web | is_open | is_click
    aggs: list[pl.Expr] = [
        pl.col("_age").min().alias("days_since_last_event"),
        pl.col("_age").filter(is_web).min().alias("days_since_last_web"),
        pl.col("_age").filter(is_open | is_click).min().alias("days_since_last_email_engagement"),
        pl.col("_age").max().alias("days_since_first_event"),
        is_web.sum().alias("web_events_total"),
        (is_email & (pl.col("event_type") == "delivered")).sum().alias("emails_delivered_total"),
        is_open.sum().alias("email_opens_total"),
        is_click.sum().alias("email_clicks_total"),
        (is_email & pl.col("event_type").is_in(["unsubscribe", "spam_report"])).any().alias("email_opted_out"),
        (is_email & (pl.col("event_type") == "bounce")).any().alias("email_bounced"),
        is_order.sum().alias("orders_before"),
        pl.col("amount").filter(is_order).sum().alias("revenue_before"),
        pl.col("_age").filter(is_order).min().alias("days_since_last_order"),
        (pl.lit(0.5).pow(pl.col("_age") / half_life_days)).filter(engaged).sum().alias("engagement_decayed"),
    ]
    for w in WINDOWS_DAYS:
        within = pl.col("_age") <= w
        aggs += [
            (is_web & within).sum().alias(f"web_events_{w}d"),
            (is_pricing & within).sum().alias(f"pricing_views_{w}d"),
            (is_open & within).sum().alias(f"email_opens_{w}d"),
            (is_click & within).sum().alias(f"email_clicks_{w}d"),
        ]
    aggs.append(pl.col("occurred_at").filter(pl.col("_age") <= 30).dt.date().n_unique().alias("active_days_30d"))
    per_person = ev.group_by("person_id").agg(aggs)

    people = (
        profiles.filter(pl.col("first_seen_at") < c)
        .select("person_id", "first_seen_at")
        .join(attributes_at(history, c), on="person_id", how="left")
    ).select(
        "person_id",
        seniority_expr().alias("seniority"),
        pl.col("employee_count"),
        pl.col("industry").str.to_lowercase().alias("industry"),
        pl.col("country").str.to_uppercase().alias("country"),
        ((pl.lit(c) - pl.col("first_seen_at")).dt.total_seconds() / 86400.0).alias("tenure_days"),
    )
    out = people.join(per_person, on="person_id", how="left")
    zero_fill = [
        name
        for name, dtype in per_person.schema.items()
        if name != "person_id" and not name.startswith("days_since") and dtype != pl.Boolean
    ]
    out = out.with_columns(
        [pl.col(n).fill_null(0) for n in zero_fill]
        + [pl.col(n).fill_null(False) for n, d in per_person.schema.items() if d == pl.Boolean]
    )
    if exclude_customers:
        out = out.filter(pl.col("orders_before") == 0)
    return out.with_columns(pl.lit(c).alias(TIME_COLUMN)).sort("person_id")


def labels_at(events: pl.DataFrame, cutoff: dt.datetime | dt.date | str, horizon_days: int = 30) -> pl.DataFrame:
    """person_id -> label: an order with cutoff < occurred_at <= cutoff + horizon."""
    c = _to_datetime(cutoff)
    end = c + dt.timedelta(days=horizon_days)
    return (
        events.filter(_is_order() & (pl.col("occurred_at") > c) & (pl.col("occurred_at") <= end))
        .select("person_id")
        .unique()
        .with_columns(pl.lit(True).alias(LABEL_COLUMN))
    )


def build_features(
    con: Warehouse,
    cutoff: dt.datetime | dt.date | str,
    *,
    exclude_customers: bool = False,
    half_life_days: float = DECAY_HALF_LIFE_DAYS,
) -> pl.DataFrame:
    """Features at one cutoff, read from the warehouse (only events before the cutoff are read)."""
    c = _to_datetime(cutoff)
    return features_at(
        load_events(con, before=c),
        load_profiles(con),
        load_attribute_history(con),
        c,
        exclude_customers=exclude_customers,
        half_life_days=half_life_days,
    )


def build_training_set(
    con: Warehouse,
    cutoffs: Sequence[dt.datetime | dt.date | str],
    *,
    horizon_days: int = 30,
    exclude_customers: bool = False,
    half_life_days: float = DECAY_HALF_LIFE_DAYS,
) -> pl.DataFrame:
    """Features and labels at several cutoffs, stacked (the `cutoff` column is the time axis)."""
    if not cutoffs:
        raise ModelError("no cutoffs given for the training set")
    cs = sorted(_to_datetime(c) for c in cutoffs)
    events = load_events(con, before=cs[-1] + dt.timedelta(days=horizon_days, seconds=1))
    profiles = load_profiles(con)
    history = load_attribute_history(con)
    frames = []
    for c in cs:
        feats = features_at(
            events, profiles, history, c, exclude_customers=exclude_customers, half_life_days=half_life_days
        )
        lab = labels_at(events, c, horizon_days)
        frames.append(feats.join(lab, on="person_id", how="left").with_columns(pl.col(LABEL_COLUMN).fill_null(False)))
        log.info("cutoff %s: %d people, %d positives", c, frames[-1].height, int(frames[-1][LABEL_COLUMN].sum()))
    return pl.concat(frames, how="vertical_relaxed")


def feature_columns(df: pl.DataFrame) -> list[str]:
    """The model features of a table built here (everything but ids, cutoff and label)."""
    return [c for c in df.columns if c not in NON_FEATURES]


def latest_event_time(con: Warehouse) -> dt.datetime:
    _require(con, "main", "fct_events")
    rows = con.execute("select max(occurred_at) from main.fct_events").fetchall()
    row = rows[0] if rows else None
    if not row or row[0] is None:
        raise ModelError("main.fct_events is empty; load data and run `outflow build` first")
    return _to_datetime(row[0])


def churn_features_at(
    events: pl.DataFrame,
    profiles: pl.DataFrame,
    history: pl.DataFrame,
    cutoff: dt.datetime | dt.date | str,
    window_days: int | None = None,
) -> pl.DataFrame:
    """Customers (at least one completed order before `cutoff`) with point-in-time features; with
    `window_days`, the label `churned`: no completed order in (cutoff, cutoff + window_days]."""
    c = _to_datetime(cutoff)
    feats = features_at(events, profiles, history, c).filter(pl.col("orders_before") > 0)
    if window_days is None:
        return feats
    buyers = labels_at(events, c, window_days)
    return (
        feats.join(buyers, on="person_id", how="left")
        .with_columns(pl.col(LABEL_COLUMN).is_null().alias(CHURN_LABEL))
        .drop(LABEL_COLUMN)
    )


CHURN_LABEL = "churned"


def build_churn_set(con: Warehouse, cutoffs: Sequence[dt.datetime | dt.date | str], window_days: int) -> pl.DataFrame:
    """Customers' features and churn labels at several cutoffs, stacked (the `cutoff` column is the time axis)."""
    cs = sorted(_to_datetime(c) for c in cutoffs)
    events = load_events(con, before=cs[-1] + dt.timedelta(days=window_days, seconds=1))
    profiles, history = load_profiles(con), load_attribute_history(con)
    return pl.concat([churn_features_at(events, profiles, history, c, window_days) for c in cs], how="vertical_relaxed")


def build_churn_features(con: Warehouse, cutoff: dt.datetime | dt.date | str) -> pl.DataFrame:
    """Customers' features at one cutoff (for scoring)."""
    c = _to_datetime(cutoff)
    return churn_features_at(load_events(con, before=c), load_profiles(con), load_attribute_history(con), c)
