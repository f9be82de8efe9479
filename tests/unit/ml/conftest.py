from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest


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
