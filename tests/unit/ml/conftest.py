from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from outflow.warehouse import Warehouse


def make_synthetic(n: int = 3000, seed: int = 0) -> pl.DataFrame:
    """Rows over 4 monthly snapshots; the label depends on two numeric features and one category."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(3, n).astype(float)
    size = rng.lognormal(4, 1.2, n)
    industry = rng.choice(["software", "retail", "finance", "education"], n)
    noise = rng.normal(0, 1, n)
    software = np.where(industry == "software", 1.5, 0.0)
    logit = -5.0 + 0.8 * visits + 0.4 * np.log(size) + software + 0.3 * noise
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    size[rng.random(n) < 0.05] = np.nan
    snapshot = [dt.date(2026, 1, 1) + dt.timedelta(days=30 * int(i)) for i in rng.integers(0, 4, n)]
    return pl.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(n)],
            "snapshot": snapshot,
            "visits": visits,
            "company_size": size,
            "industry": industry,
            "country": rng.choice(["US", "DE", "FR"], n, p=[0.5, 0.3, 0.2]),
            "irrelevant": rng.normal(0, 1, n),
            "converted": y,
            "rule_score": visits * 10 + rng.normal(0, 20, n),
        }
    )


@pytest.fixture(scope="module")
def synthetic() -> pl.DataFrame:
    return make_synthetic()


AS_OF = dt.datetime(2026, 6, 1)


def make_warehouse_tables(con: Warehouse, n_people: int = 400, seed: int = 0, as_of: dt.datetime = AS_OF) -> None:
    """main.dim_profiles, main.dim_profile_history and main.fct_events shaped like the warehouse's, with behaviour
    (pricing views, email clicks) that precedes orders."""
    rng = np.random.default_rng(seed)
    con.execute("create schema if not exists main")
    titles = ["CEO", "VP Marketing", "Director of Sales", "Marketing Manager", "Analyst", None]
    industries = ["Software", "Retail", "Finance", None]
    profiles = []
    events = []
    eid = 0
    start = as_of - dt.timedelta(days=240)
    for i in range(n_people):
        pid = f"person_{i:05d}"
        first_seen = start + dt.timedelta(days=float(rng.uniform(0, 200)))
        intent = rng.random()
        profiles.append(
            (
                pid,
                titles[int(rng.integers(0, len(titles)))],
                int(rng.lognormal(4, 1.3)),
                industries[int(rng.integers(0, len(industries)))],
                str(rng.choice(["US", "DE", "FR", "GB"])),
                first_seen,
            )
        )
        t = first_seen
        while t < as_of:
            t += dt.timedelta(days=float(rng.exponential(12 / (0.3 + intent))))
            if t >= as_of:
                break
            kind = rng.random()
            if kind < 0.5:
                page = "/pricing" if rng.random() < intent * 0.6 else "/blog/post"
                events.append((f"e{eid}", pid, "web", "page_view", t, page, None, None))
            elif kind < 0.9:
                etype = "click" if rng.random() < intent * 0.5 else "open"
                events.append((f"e{eid}", pid, "email", etype, t, None, "c1", None))
            elif rng.random() < intent * 0.4:
                events.append((f"e{eid}", pid, "order", "completed", t, None, None, float(rng.uniform(20, 500))))
            eid += 1
    prof = pl.DataFrame(
        profiles,
        schema={
            "person_id": pl.String,
            "job_title": pl.String,
            "employee_count": pl.Int32,
            "industry": pl.String,
            "country": pl.String,
            "first_seen_at": pl.Datetime("us"),
        },
        orient="row",
    )
    ev = pl.DataFrame(
        events,
        schema={
            "event_id": pl.String,
            "person_id": pl.String,
            "source": pl.String,
            "event_type": pl.String,
            "occurred_at": pl.Datetime("us"),
            "page_path": pl.String,
            "campaign_id": pl.String,
            "amount": pl.Float64,
        },
        orient="row",
    )
    con.write_arrow("main.dim_profiles", prof, mode="replace")
    con.write_arrow("main.fct_events", ev, mode="replace")
    # one CRM version per person, known from first sight (tests add later versions)
    history = prof.select(
        "person_id",
        ("crm_" + pl.col("person_id")).alias("contact_id"),
        "job_title",
        "employee_count",
        "industry",
        "country",
        pl.col("first_seen_at").alias("valid_from"),
        pl.lit(None, dtype=pl.Datetime("us")).alias("valid_to"),
    )
    con.write_arrow("main.dim_profile_history", history, mode="replace")


@pytest.fixture()
def small_warehouse(tmp_path):
    from outflow.warehouse import connect

    path = tmp_path / "wh.duckdb"
    con = connect(path)
    make_warehouse_tables(con)
    yield con
    con.close()
