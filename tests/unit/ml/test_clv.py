"""BG/NBD and Gamma-Gamma against the published CDNOW results (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models_ml import clv
from models_ml.errors import ModelError

CDNOW = Path(__file__).resolve().parents[2] / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = dt.datetime(1997, 10, 1)  # purchases through 1997-09-30 (39 weeks)
HOLDOUT_END = dt.datetime(1998, 7, 1)  # the 39-week holdout, through 1998-06-30


def _sig3(value: float) -> str:
    return f"{value:.3g}"


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    rows = [line.split() for line in CDNOW.read_text().splitlines() if line.strip()]
    tx = pl.DataFrame(
        {
            "person_id": [r[1] for r in rows],
            "day": [dt.datetime.strptime(r[2], "%Y%m%d") for r in rows],
            "amount": [float(r[4]) for r in rows],
        }
    )
    # one purchase occasion per customer and day, as in the paper
    occasions = tx.group_by("person_id", "day").agg(pl.col("amount").sum()).rename({"day": "occasion_at"})
    return clv.summarize(
        occasions,
        end=CALIBRATION_END,
        holdout_end=HOLDOUT_END,
        age_at=CALIBRATION_END - dt.timedelta(days=1),
        days_per_unit=7,
    )


def test_summary_matches_the_paper_sample(cdnow: pl.DataFrame) -> None:
    assert cdnow.height == 2357
    first = cdnow.row(0, named=True)  # customer 0001: 2 repeats, last at week 30.43, T = 38.86
    assert first["frequency"] == 2
    assert first["recency"] == pytest.approx(30.43, abs=0.01)
    assert first["T"] == pytest.approx(38.86, abs=0.01)
    assert int((cdnow["frequency"] == 0).sum()) == 1411


def test_bgnbd_reproduces_published_parameters(cdnow: pl.DataFrame) -> None:
    m = clv.fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    # FHL (2005) Table/section 4: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    assert [_sig3(v) for v in (m.r, m.alpha, m.a, m.b)] == ["0.243", "4.41", "0.793", "2.43"]
    assert m.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_gamma_gamma_reproduces_published_parameters(cdnow: pl.DataFrame) -> None:
    g = clv.fit_gamma_gamma(cdnow["frequency"], cdnow["monetary"])
    # Fader & Hardie, "The Gamma-Gamma Model of Monetary Value" (2013): p = 6.25, q = 3.74, gamma = 15.44
    assert [_sig3(v) for v in (g.p, g.q, g.gamma)] == ["6.25", "3.74", "15.4"]
    assert g.n == 946


def test_holdout_accuracy_and_predictions(cdnow: pl.DataFrame) -> None:
    m = clv.fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    acc = clv.holdout_accuracy(m, cdnow, holdout_length=39)
    assert acc["actual_total"] == 1882
    # the conditional expectations track the holdout: within 15% in total, rising with calibration frequency
    assert abs(acc["total_error_pct"]) < 15
    predicted = [g["predicted"] for g in acc["by_frequency"]]
    assert predicted == sorted(predicted)
    assert acc["correlation"] > 0.6
    # P(alive) is 1 without repeats and falls for a frequent buyer who has gone quiet
    alive = clv.p_alive(m, [0, 5, 5], [0, 35, 5], [38, 38, 38])
    assert alive[0] == 1.0 and alive[1] > 0.8 and alive[2] < 0.2
    # population expectation: E[X(t)] grows with t and is concave
    ex = clv.expected_population_purchases(m, np.array([13.0, 26.0, 39.0]))
    assert 0 < ex[0] < ex[1] < ex[2] and ex[1] - ex[0] > ex[2] - ex[1]


def test_clv_and_spend(cdnow: pl.DataFrame) -> None:
    m = clv.fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    g = clv.fit_gamma_gamma(cdnow["frequency"], cdnow["monetary"])
    spend = clv.expected_spend(g, [0, 10], [0.0, 50.0])
    assert spend[0] == pytest.approx(g.p * g.gamma / (g.q - 1))
    assert 40 < spend[1] < 50  # shrunk from the customer's own mean towards the population's
    value = clv.lifetime_value(m, g, [0, 10], [0, 38], [38, 38], [0.0, 50.0], days_per_unit=7)
    assert value[1] > 10 * value[0] > 0


def test_bad_summary_is_one_clear_error() -> None:
    with pytest.raises(ModelError, match="recency"):
        clv.fit_bgnbd([1], [5.0], [3.0])
    with pytest.raises(ModelError, match="no customers"):
        clv.fit_bgnbd([], [], [])
