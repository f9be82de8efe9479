"""Customer lifetime value: BG/NBD + Gamma-Gamma fit and scoring time at 100k and 1M customers.

Customers are simulated from a BG/NBD process with the CDNOW parameters (Fader, Hardie & Lee 2005) in days
(r = 0.243, alpha = 4.414 weeks x 7, a = 0.793, b = 2.426), first purchases spread over a year, purchases
dated by day as the warehouse's purchase occasions are, and occasion values from a Gamma-Gamma process
(p = 6.25, q = 3.74, gamma = 15.44). Each step is `models_ml.clv` exactly as `outflow clv fit` calls it:

- summarize: purchase occasions -> frequency, recency, T, mean repeat value per customer (polars);
- fit BG/NBD and fit Gamma-Gamma: exact maximum likelihood (scipy);
- score: P(alive), expected purchases 30/90/365 days, expected spend and 12-month CLV for every customer.

It prints each step's wall and process CPU seconds (the CPU seconds hardly depend on what else runs on the
machine) and the fitted parameters beside the simulated ones.

    .venv/bin/python bench/clv.py                       # 100k and 1M
    .venv/bin/python bench/clv.py --sizes 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

import numpy as np
import polars as pl

from models_ml import clv

TRUE = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
TRUE_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
AS_OF = dt.datetime(2026, 11, 2)


def simulate(n: int, seed: int = 0) -> pl.DataFrame:
    """Purchase occasions (person_id, occasion_at, amount) of n customers, each with a first purchase."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    drop = rng.beta(TRUE["a"], TRUE["b"], n)
    first = rng.uniform(1, 365, n)  # days before the as-of of the first purchase
    nu = rng.gamma(TRUE_GG["q"], 1 / TRUE_GG["gamma"], n)  # Gamma-Gamma: mean value p / nu
    owners, days = [np.arange(n)], [first]
    t = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(200):
        t = t + rng.exponential(1 / np.maximum(lam, 1e-12))
        alive &= t < first
        if not alive.any():
            break
        idx = np.flatnonzero(alive)
        owners.append(idx)
        days.append(first[idx] - t[idx])
        alive &= rng.random(n) >= drop  # after each repeat purchase the customer may drop out (BG/NBD)
    owner = np.concatenate(owners)
    day = np.floor(np.concatenate(days))  # dated by day, like the warehouse's occasions
    amount = rng.gamma(TRUE_GG["p"], 1 / nu[owner])
    frame = pl.DataFrame({"person_id": owner, "day": day, "amount": amount})
    frame = frame.group_by("person_id", "day").agg(pl.col("amount").sum())
    return frame.select(
        pl.col("person_id").cast(pl.String),
        (pl.lit(AS_OF) - pl.duration(days=pl.col("day") + 1)).alias("occasion_at"),
        "amount",
    )


def run(n: int) -> None:
    occasions = simulate(n)
    steps = {
        "summarize": lambda: clv.summarize(occasions, end=AS_OF),
        "fit BG/NBD": lambda: clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"]),
        "fit Gamma-Gamma": lambda: clv.fit_gamma_gamma(summary["frequency"], summary["monetary"]),
        "score": lambda: clv.score_customers(summary, bg, gg, as_of=AS_OF),
    }
    timings: dict[str, tuple[float, float]] = {}  # step -> (wall s, process CPU s)
    results = {}
    load = os.getloadavg()[0]
    for step, fn in steps.items():
        t0, c0 = time.perf_counter(), time.process_time()
        results[step] = fn()
        timings[step] = (time.perf_counter() - t0, time.process_time() - c0)
        if step == "summarize":
            summary = results[step]
        elif step == "fit BG/NBD":
            bg = results[step]
        elif step == "fit Gamma-Gamma":
            gg = results[step]
    scores = results["score"]
    print(f"\n{n:,} customers, {occasions.height:,} purchase occasions (load average {load:.1f} at start)")
    print(f"  {'step':<16} {'wall s':>7} {'CPU s':>7}")
    for step, (wall, cpu) in timings.items():
        print(f"  {step:<16} {wall:7.2f} {cpu:7.2f}")
    walls, cpus = zip(*timings.values(), strict=True)
    print(f"  {'total':<16} {sum(walls):7.2f} {sum(cpus):7.2f}  ({scores.height:,} customers scored)")
    print("  BG/NBD      fitted " + "  ".join(f"{k}={getattr(bg, k):.4g} (true {v:.4g})" for k, v in TRUE.items()))
    print("  Gamma-Gamma fitted " + "  ".join(f"{k}={getattr(gg, k):.4g} (true {v:.4g})" for k, v in TRUE_GG.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    for n in parser.parse_args().sizes:
        run(n)


if __name__ == "__main__":
    main()
