"""Lead-score model: training and scoring time at 100k and 1M rows × 50 features.

Synthetic features (45 numeric with missing values, 5 categorical) and a label from a logistic
function of a few of them; rows spread over 8 monthly snapshots so training uses its time-based
validation split. Each measurement is `models_ml.train` / `models_ml.score` exactly as the pipeline
calls them, with the library defaults (hist trees, early stopping):

- train (xgboost): `train(..., baseline=False)`: encoding + xgboost with early stopping;
- train (+ logistic baseline): the same plus the scikit-learn baseline the evaluation report uses;
- score: probability and decile for every row (`with_reasons=False`);
- + reasons (exact): the same plus the top-3 reason codes from xgboost's pred_contribs (TreeSHAP),
  timed up to 100k rows (it grows linearly; pass --exact-reasons-max to change);
- + reasons (approx): the same with `approx_contribs=True`.

Each row prints the wall seconds, the process CPU seconds and the load average: on the shared 2-core
machine the wall time follows the load, the CPU seconds much less so. "trees" is the number kept by
early stopping, "built" the number trained (the difference is the patience spent).

    .venv/bin/python bench/ml.py                        # 100k and 1M
    .venv/bin/python bench/ml.py --sizes 100000         # one size
    .venv/bin/python bench/ml.py --no-baseline --no-reasons
    .venv/bin/python bench/ml.py --sizes 200000 --sweep  # CPU seconds and AUC of the training knobs
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

import numpy as np
import polars as pl

import models_ml.model as M
from models_ml import score, train

N_NUMERIC = 45
N_CATEGORICAL = 5
GOAL_TRAIN_1M_S = 30.0
GOAL_SCORE_1M_S = 2.0


def make_features(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    num = rng.normal(0, 1, (n, N_NUMERIC)).astype(np.float32)
    num[rng.random((n, N_NUMERIC)) < 0.05] = np.nan
    cats = rng.integers(0, 12, (n, N_CATEGORICAL))
    logit = (
        -2.5
        + 0.9 * np.nan_to_num(num[:, 0])
        + 0.6 * np.nan_to_num(num[:, 1])
        - 0.4 * np.nan_to_num(num[:, 2]) * np.nan_to_num(num[:, 3])
        + 0.8 * (cats[:, 0] == 3)
        + 0.5 * np.tanh(np.nan_to_num(num[:, 4]))
    )
    label = rng.random(n) < 1 / (1 + np.exp(-logit))
    start = dt.date(2026, 1, 1)
    snapshots = np.array([start + dt.timedelta(days=30 * k) for k in range(8)])
    cols: dict[str, object] = {
        "person_id": np.char.add("p", np.arange(n).astype(str)),
        "cutoff": pl.Series(snapshots[rng.integers(0, 8, n)].tolist(), dtype=pl.Date),
    }
    for j in range(N_NUMERIC):
        cols[f"num_{j:02d}"] = num[:, j]
    for j in range(N_CATEGORICAL):
        cols[f"cat_{j}"] = np.char.add("c", cats[:, j].astype(str))
    cols["label"] = label
    return pl.DataFrame(cols)


CPU_SECONDS: dict[str, float] = {}


def timed(fn, label: str = ""):  # noqa: ANN001, ANN201
    """Wall seconds; the process CPU seconds go to CPU_SECONDS[label] (load-independent: on an idle
    2-core machine the wall time of the threaded xgboost parts is about CPU / 2)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    CPU_SECONDS[label] = time.process_time() - cpu
    return out, time.perf_counter() - start


#: --sweep: (label, early-stopping patience, validation rows evaluated per round (None: all), histogram bins)
SWEEP = [
    ("defaults", M.EARLY_STOPPING_ROUNDS, M.EVAL_ROWS_MAX, M.DEFAULT_PARAMS["max_bin"]),
    ("patience 10", 10, M.EVAL_ROWS_MAX, 64),
    ("patience 30", 30, M.EVAL_ROWS_MAX, 64),
    ("eval rows 10k", M.EARLY_STOPPING_ROUNDS, 10_000, 64),
    ("eval rows all", M.EARLY_STOPPING_ROUNDS, None, 64),
    ("bins 32", M.EARLY_STOPPING_ROUNDS, M.EVAL_ROWS_MAX, 32),
    ("bins 128", M.EARLY_STOPPING_ROUNDS, M.EVAL_ROWS_MAX, 128),
    ("bins 256", M.EARLY_STOPPING_ROUNDS, M.EVAL_ROWS_MAX, 256),
]


def sweep(n: int) -> None:
    """Train at n rows with each knob changed alone: process CPU seconds (load-independent), trees kept and
    built, and AUC on the validation period and on a fresh test set drawn from the same process."""
    from sklearn.metrics import roc_auc_score

    df, test = make_features(n), make_features(200_000, seed=1)
    feats = [c for c in df.columns if c not in ("person_id", "cutoff", "label")]
    default_rows = M.EVAL_ROWS_MAX
    print(f"\nsweep at {n:,} rows (test AUC on 200,000 fresh rows); load average {os.getloadavg()[0]:.1f}")
    head = (
        f"{'variant':<15} | {'train CPU s':>11} | {'wall s':>6} | {'trees':>5} | {'built':>5} | "
        f"{'valid AUC':>9} | {'test AUC':>8}"
    )
    print(head)
    print("-" * len(head))
    try:
        for label, patience, rows, bins in SWEEP:
            M.EVAL_ROWS_MAX = rows if rows is not None else 10**12
            model, wall = timed(
                lambda p=patience, b=bins: train(
                    df, "label", feature_columns=feats, time_column="cutoff", baseline=False,
                    early_stopping_rounds=p, params={"max_bin": b},
                ),
                "sweep",
            )  # fmt: skip
            auc = roc_auc_score(test["label"].to_numpy(), model.predict(test))
            print(
                f"{label:<15} | {CPU_SECONDS['sweep']:>11.2f} | {wall:>6.2f} | {model.best_iteration + 1:>5} | "
                f"{model.booster.num_boosted_rounds():>5} | {model.train_info['valid_auc']:>9.4f} | {auc:>8.4f}",
                flush=True,
            )
    finally:
        M.EVAL_ROWS_MAX = default_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--no-baseline", action="store_true", help="skip the logistic-baseline timing")
    parser.add_argument("--no-reasons", action="store_true", help="skip the reason-code timings")
    parser.add_argument("--exact-reasons-max", type=int, default=100_000, help="largest size for exact reasons")
    parser.add_argument("--baseline-max", type=int, default=100_000, help="largest size for the baseline")
    parser.add_argument("--sweep", action="store_true", help="CPU seconds and AUC of patience, eval rows and bins")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.sweep:
        for n in sizes:
            sweep(n)
        return
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, load average {load:.1f} at start; "
        f"features: {N_NUMERIC} numeric + {N_CATEGORICAL} categorical"
    )
    header = (
        f"{'rows':>9} | {'train xgb s':>11} | {'trees':>5} | {'built':>5} | {'valid AUC':>9} | {'+baseline s':>11} | "
        f"{'score s':>7} | {'rows/s':>10} | {'+reasons s':>10} | {'+approx s':>9}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        df = make_features(n)
        feats = [c for c in df.columns if c not in ("person_id", "cutoff", "label")]
        model, t_train = timed(
            lambda df=df, feats=feats: train(df, "label", feature_columns=feats, time_column="cutoff", baseline=False),
            "train",
        )
        t_base = None
        if not args.no_baseline and n <= args.baseline_max:
            _, t_base = timed(
                lambda df=df, feats=feats: train(df, "label", feature_columns=feats, time_column="cutoff")
            )
        _, t_score = timed(lambda df=df, model=model: score(model, df, with_reasons=False), "score")
        t_reasons = t_approx = None
        if not args.no_reasons:
            if n <= args.exact_reasons_max:
                _, t_reasons = timed(lambda df=df, model=model: score(model, df, with_reasons=True))
            _, t_approx = timed(lambda df=df, model=model: score(model, df, with_reasons=True, approx_reasons=True))
        print(
            f"{n:>9,} | {t_train:>11.2f} | {model.best_iteration + 1:>5} | {model.booster.num_boosted_rounds():>5} | "
            f"{model.train_info['valid_auc']:>9.4f} | "
            f"{(f'{t_base:.2f}' if t_base is not None else '—'):>11} | {t_score:>7.2f} | "
            f"{n / t_score:>10,.0f} | {(f'{t_reasons:.2f}' if t_reasons is not None else '—'):>10} | "
            f"{(f'{t_approx:.2f}' if t_approx is not None else '—'):>9}",
            flush=True,
        )
        print(
            f"{'':>9}   CPU seconds: train {CPU_SECONDS['train']:.1f}, score {CPU_SECONDS['score']:.2f} "
            f"(load average now {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        if n == 1_000_000:
            train_ok = "met" if t_train <= GOAL_TRAIN_1M_S else "MISSED"
            score_ok = "met" if t_score <= GOAL_SCORE_1M_S else "MISSED"
            print(
                f"  goals at 1M: train ≤ {GOAL_TRAIN_1M_S:.0f} s → {train_ok}; "
                f"score ≤ {GOAL_SCORE_1M_S:.0f} s → {score_ok}"
            )


if __name__ == "__main__":
    main()
