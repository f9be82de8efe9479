"""Training and scoring on any feature table.

`train(features, label, ...)` fits an xgboost classifier with early stopping on a time-based
validation split, plus a logistic-regression baseline on the same features. `score(...)` returns
one row per entity with the probability, its decile and reason codes taken from xgboost's own
per-feature contributions (`pred_contribs=True`).

Works on a polars DataFrame, a pyarrow Table or a pandas DataFrame. Numeric and boolean columns are used as they are
(nulls become missing values, which xgboost handles natively); string/categorical columns are
encoded with a vocabulary learned at training time and passed to xgboost as categorical features.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from models_ml.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",  # early stopping on validation log loss; AUC is computed once at the end
    "tree_method": "hist",
    "learning_rate": 0.3,  # xgboost's own default; with early stopping, ~2x fewer trees than 0.1 at equal AUC
    "max_depth": 5,
    "min_child_weight": 2.0,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "reg_lambda": 1.0,
    "max_bin": 64,
    "max_cat_to_onehot": 8,
    "nthread": 2,  # the machines this runs on have 2 cores; more threads than cores only contend
}
# Early stopping: with a learning rate of 0.3 the validation loss turns within a few trees, so 5
# rounds of patience waste few trees (10 kept the same best tree at 200k rows for 10% more CPU, 30 for
# 30% more; `bench/ml.py --sweep`); each round evaluates at most EVAL_ROWS_MAX validation rows (a
# random sample: the stopping point barely moves, the cost does).
EARLY_STOPPING_ROUNDS = 5
EVAL_ROWS_MAX = 50_000

FeatureTable = Any  # a polars DataFrame, a pyarrow Table or RecordBatch, or a pandas DataFrame


def as_polars(features: FeatureTable) -> pl.DataFrame:
    """Accept a polars DataFrame, a pyarrow Table or RecordBatch, or a pandas DataFrame."""
    if isinstance(features, pl.DataFrame):
        return features
    if isinstance(features, pa.Table | pa.RecordBatch):
        return pl.from_arrow(features)  # type: ignore[return-value]
    if type(features).__module__.startswith("pandas") and type(features).__name__ == "DataFrame":
        return pl.from_pandas(features)
    raise ModelError(f"features must be a polars, pandas or pyarrow table, not {type(features).__name__}")


def _label_array(df: pl.DataFrame, label: str | Sequence[Any] | pl.Series | np.ndarray) -> np.ndarray:
    if isinstance(label, str):
        if label not in df.columns:
            raise ModelError(f"label column {label!r} is not in the feature table")
        series = df[label]
    else:
        series = pl.Series("label", label) if not isinstance(label, pl.Series) else label
        if len(series) != df.height:
            raise ModelError(f"label has {len(series)} values but the feature table has {df.height} rows")
    if series.null_count():
        raise ModelError(f"label has {series.null_count()} null values; every row needs a 0/1 label")
    y = series.cast(pl.Float64).to_numpy()
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise ModelError(f"label must be 0/1 (or boolean); row {int(np.argmax(bad))} has {y[bad][0]!r}")
    return y


_NUMERIC = (pl.Float32, pl.Float64, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)


@dataclass
class FeatureEncoding:
    """How a feature table becomes a numeric matrix; learned at training, reused at scoring."""

    names: list[str]
    types: list[str]  # xgboost feature types: "q" (quantitative) or "c" (categorical)
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, df: pl.DataFrame, columns: Sequence[str]) -> FeatureEncoding:
        types: list[str] = []
        categories: dict[str, list[str]] = {}
        for name in columns:
            dtype = df.schema[name]
            if dtype in _NUMERIC or dtype == pl.Boolean or dtype == pl.UInt64:
                types.append("q")
            elif dtype in (pl.String, pl.Categorical, pl.Enum):
                values = df[name].cast(pl.String).drop_nulls().unique().sort().to_list()
                categories[name] = values
                types.append("c")
            else:
                raise ModelError(f"feature column {name!r} has type {dtype}; use numeric, boolean or string columns")
        return cls(list(columns), types, categories)

    def matrix(self, df: pl.DataFrame) -> np.ndarray:
        missing = [c for c in self.names if c not in df.columns]
        if missing:
            raise ModelError(f"feature table lacks column(s) the model was trained on: {', '.join(missing)}")
        exprs = []
        for name, kind in zip(self.names, self.types, strict=True):
            if kind == "q":
                exprs.append(pl.col(name).cast(pl.Float32).alias(name))
            else:
                vocab = self.categories[name]
                mapping = pl.DataFrame(
                    {"_v": vocab, "_code": np.arange(len(vocab), dtype=np.float32)},
                    schema={"_v": pl.String, "_code": pl.Float32},
                )
                exprs.append(
                    pl.col(name)
                    .cast(pl.String)
                    .replace_strict(mapping["_v"], mapping["_code"], default=None, return_dtype=pl.Float32)
                    .alias(name)
                )
        out = df.select(exprs).to_numpy()
        out = np.asarray(out, dtype=np.float32)
        return out

    def dmatrix(self, x: np.ndarray, label: np.ndarray | None = None) -> xgb.DMatrix:
        return xgb.DMatrix(
            x,
            label=label,
            feature_names=self.names,
            feature_types=self.types,
            enable_categorical=True,
            missing=np.nan,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "types": self.types, "categories": self.categories}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoding:
        return cls(list(data["names"]), list(data["types"]), dict(data.get("categories", {})))


@dataclass
class TrainedModel:
    """An xgboost booster, its feature encoding, a logistic baseline and how it was trained."""

    booster: xgb.Booster
    encoding: FeatureEncoding
    best_iteration: int
    params: dict[str, Any]
    train_info: dict[str, Any]
    baseline: Any | None = None  # a fitted scikit-learn pipeline (logistic regression) or None

    @property
    def feature_names(self) -> list[str]:
        return self.encoding.names

    def predict(self, features: FeatureTable) -> np.ndarray:
        """Probability of the positive class for each row."""
        x = self.encoding.matrix(as_polars(features))
        return self._predict_matrix(x)

    def _predict_matrix(self, x: np.ndarray, contribs: bool = False, approx: bool = False) -> np.ndarray:
        if x.shape[0] == 0:
            width = len(self.encoding.names) + 1
            return np.zeros((0, width), dtype=np.float32) if contribs else np.zeros(0, dtype=np.float32)
        if not contribs:
            # in-place prediction skips building a DMatrix (same result, ~2x faster)
            cal = self.train_info.get("calibration")
            out = self.booster.inplace_predict(
                x,
                iteration_range=(0, self.best_iteration + 1),
                missing=np.nan,
                validate_features=False,
                predict_type="margin" if cal else "value",
            )
            if cal:
                out = 1.0 / (1.0 + np.exp(-(cal["slope"] * out + cal["intercept"])))
            return out
        dm = self.encoding.dmatrix(x)
        return self.booster.predict(
            dm,
            iteration_range=(0, self.best_iteration + 1),
            pred_contribs=True,
            approx_contribs=approx,
            validate_features=False,
        )

    def predict_baseline(self, features: FeatureTable) -> np.ndarray | None:
        """Probability from the logistic-regression baseline, or None if it was not trained."""
        if self.baseline is None:
            return None
        x = self.encoding.matrix(as_polars(features))
        if x.shape[0] == 0:
            return np.zeros(0)
        return self.baseline.predict_proba(x)[:, 1]


def _time_split(
    df: pl.DataFrame, y: np.ndarray, time_column: str | None, valid_fraction: float, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """A boolean mask of validation rows: the latest `valid_fraction` of rows by time."""
    n = df.height
    if time_column is not None:
        if time_column not in df.columns:
            raise ModelError(f"time column {time_column!r} is not in the feature table")
        times = df[time_column]
        if times.null_count():
            raise ModelError(f"time column {time_column!r} has {times.null_count()} null values")
        distinct = times.unique().sort()
        # The cut is the earliest time such that rows at or after it are at most ~valid_fraction
        # of the data (at least one distinct time value is kept on each side).
        counts = df.group_by(time_column).len().sort(time_column)
        cum_from_end = np.cumsum(counts["len"].to_numpy()[::-1])[::-1]
        candidates = np.nonzero(cum_from_end <= max(valid_fraction, 1.0 / n) * n)[0]
        if len(distinct) >= 2:
            idx = int(candidates[0]) if len(candidates) else len(distinct) - 1
            idx = max(idx, 1)
            cut = counts[time_column][idx]
            mask = (times >= cut).to_numpy()
            if 0 < y[mask].sum() < mask.sum() and 0 < y[~mask].sum() < (~mask).sum():
                info = {
                    "split": "time",
                    "time_column": time_column,
                    "valid_from": str(cut),
                    "train_from": str(distinct[0]),
                    "train_to": str(distinct[idx - 1]),
                    "valid_to": str(distinct[-1]),
                }
                return mask, info
            log.warning("time-based split leaves one side without both classes; using a random split")
        else:
            log.warning("time column %r has a single value; using a random validation split", time_column)
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    for cls in (0.0, 1.0):
        idx = np.nonzero(y == cls)[0]
        take = rng.choice(idx, size=max(1, int(round(len(idx) * valid_fraction))), replace=False)
        mask[take] = True
    return mask, {"split": "random", "seed": seed}


def _fit_baseline(encoding: FeatureEncoding, x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = [i for i, t in enumerate(encoding.types) if t == "q"]
    cat = [i for i, t in enumerate(encoding.types) if t == "c"]
    transformers = []
    if num:
        transformers.append(
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
                num,
            )
        )
    if cat:
        transformers.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=5),
                ),
                cat,
            )
        )
    pipe = Pipeline(
        [
            ("prep", ColumnTransformer(transformers)),
            ("clf", LogisticRegression(max_iter=500, C=1.0, random_state=seed)),
        ]
    )
    pipe.fit(x, y)
    return pipe


def train(
    features: FeatureTable,
    label: str | Sequence[Any] | pl.Series | np.ndarray,
    *,
    feature_columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    time_column: str | None = None,
    valid_fraction: float = 0.2,
    params: dict[str, Any] | None = None,
    num_boost_round: int = 400,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
    baseline: bool = True,
    refit: bool = False,
    calibrate: bool = True,
    seed: int = 0,
) -> TrainedModel:
    """Train an xgboost classifier (and a logistic baseline) on any feature table.

    features: one row per example. label: a column name in `features` or a 0/1 sequence.
    feature_columns: the columns to learn from; by default every column except the label,
    `time_column` and `exclude` (use `exclude` for ids). time_column: rows at the latest times
    (about `valid_fraction` of them) form the validation set used for early stopping; without it
    a stratified random split is used. refit: after early stopping has chosen the number of
    trees, train again on all rows (validation included) with that many trees, so the latest
    period also teaches the model. calibrate: map the model's log-odds to probabilities with a
    logistic fit (Platt scaling) on the validation rows (the latest period; with refit, on the refit
    model's own margins there, which it has seen), so scores match the most recent period's
    observed rates even when the base rate drifts across the training periods (ranking, AUC and
    reason codes are unchanged: the map is monotone and contributions stay in raw log-odds).
    """
    df = as_polars(features)
    if df.height == 0:
        raise ModelError("the feature table is empty; nothing to train on")
    y = _label_array(df, label)
    if feature_columns is None:
        skip = set(exclude) | ({label} if isinstance(label, str) else set()) | {time_column}
        feature_columns = [c for c in df.columns if c not in skip]
    if not feature_columns:
        raise ModelError("no feature columns to train on")
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        raise ModelError(f"the label has a single class ({positives} positives in {len(y)} rows); cannot train")
    if not 0.0 < valid_fraction < 1.0:
        raise ModelError(f"valid_fraction must be between 0 and 1, got {valid_fraction}")

    encoding = FeatureEncoding.fit(df, feature_columns)
    x = encoding.matrix(df)
    valid_mask, split_info = _time_split(df, y, time_column, valid_fraction, seed)
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    # Only the validation set is evaluated each round (early stopping needs nothing else).
    dtrain = encoding.dmatrix(x[~valid_mask], y[~valid_mask])
    dvalid = encoding.dmatrix(x[valid_mask], y[valid_mask])
    valid_idx = np.nonzero(valid_mask)[0]
    if len(valid_idx) > EVAL_ROWS_MAX:
        pick = np.sort(np.random.default_rng(seed).choice(valid_idx, EVAL_ROWS_MAX, replace=False))
        dstop = encoding.dmatrix(x[pick], y[pick])
    else:
        dstop = dvalid
    booster = xgb.train(
        merged,
        dtrain,
        num_boost_round=num_boost_round,
        evals=[(dstop, "valid")],
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    best = int(getattr(booster, "best_iteration", num_boost_round - 1))
    valid_margin = booster.predict(dvalid, iteration_range=(0, best + 1), output_margin=True)
    valid_y = y[valid_mask]
    valid_auc = roc_auc_score(valid_y, valid_margin) if 0 < valid_y.sum() < len(valid_y) else None
    log.info(
        "trained xgboost on %d rows (%d validation), best iteration %d, validation AUC %s",
        int((~valid_mask).sum()),
        int(valid_mask.sum()),
        best,
        valid_auc,
    )
    fit_rows = ~valid_mask
    calibration_margin = valid_margin
    if refit:
        dall = encoding.dmatrix(x, y)
        booster = xgb.train(merged, dall, num_boost_round=best + 1, verbose_eval=False)
        fit_rows = np.ones(len(y), dtype=bool)
        # the refit model has seen the latest period, so it is calibrated on its own margins there
        calibration_margin = booster.predict(dvalid, iteration_range=(0, best + 1), output_margin=True)
    base = _fit_baseline(encoding, x[fit_rows], y[fit_rows], seed) if baseline else None
    info = {
        **split_info,
        "n_train": int((~valid_mask).sum()),
        "n_valid": int(valid_mask.sum()),
        "positives_train": int(y[~valid_mask].sum()),
        "positives_valid": int(y[valid_mask].sum()),
        "valid_auc": float(valid_auc) if valid_auc is not None else None,
        "num_boost_round": num_boost_round,
        "early_stopping_rounds": early_stopping_rounds,
        "refit_on_all_rows": refit,
        "calibration": _platt(calibration_margin, valid_y) if calibrate else None,
    }
    return TrainedModel(booster, encoding, best, merged, info, base)


def _platt(margin: np.ndarray, y: np.ndarray) -> dict[str, float] | None:
    """Slope and intercept of P(y=1) = sigmoid(slope * margin + intercept), fitted on held-out rows."""
    if not 0 < y.sum() < len(y):
        return None
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e6).fit(np.asarray(margin, dtype=np.float64).reshape(-1, 1), y)
    return {"method": "platt", "slope": float(fit.coef_[0][0]), "intercept": float(fit.intercept_[0])}


def deciles(scores: np.ndarray) -> np.ndarray:
    """Decile 1 holds the highest 10% of scores, decile 10 the lowest (ties broken by order)."""
    n = len(scores)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n)
    return (ranks * 10 // n + 1).astype(np.int32)


def reason_codes(
    model: TrainedModel, x: np.ndarray, top_k: int = 3, approx: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The top_k features by absolute contribution (log-odds), per row, from xgboost's pred_contribs
    (exact TreeSHAP; `approx=True` uses xgboost's faster per-path approximation).

    Returns (indices, contributions), both of shape (n, top_k).
    """
    contribs = model._predict_matrix(x, contribs=True, approx=approx)[:, :-1]  # last column is the bias
    k = min(top_k, contribs.shape[1])
    if contribs.shape[0] == 0:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k))
    # k passes of argmax (ties go to the first feature): ~4x faster than argpartition + argsort on
    # a 1M x 50 matrix for the usual k of 3
    magnitude = np.abs(contribs)
    rows = np.arange(len(magnitude))
    idx = np.empty((len(magnitude), k), dtype=np.int64)
    for j in range(k):
        idx[:, j] = magnitude.argmax(axis=1)
        magnitude[rows, idx[:, j]] = -1.0
    return idx, np.take_along_axis(contribs, idx, axis=1)


def score(
    model: TrainedModel,
    features: FeatureTable,
    *,
    id_column: str | Sequence[str] = "person_id",
    top_k: int = 3,
    with_reasons: bool = True,
    approx_reasons: bool = False,
) -> pl.DataFrame:
    """Score every row: id column(s), score (probability), decile (1 = best) and reason_codes.

    reason_codes is a JSON array of {"feature", "contribution"} with the top_k features by
    absolute contribution to the log-odds (positive pushes the score up).
    """
    df = as_polars(features)
    ids = [id_column] if isinstance(id_column, str) else list(id_column)
    missing = [c for c in ids if c not in df.columns]
    if missing:
        raise ModelError(f"id column(s) {', '.join(missing)} not in the feature table")
    x = model.encoding.matrix(df)
    proba = model._predict_matrix(x).astype(np.float64)
    out = df.select(ids).with_columns(
        pl.Series("score", proba, dtype=pl.Float64),
        pl.Series("decile", deciles(proba), dtype=pl.Int32),
    )
    if with_reasons:
        idx, vals = reason_codes(model, x, top_k, approx=approx_reasons)
        names = np.array(model.encoding.names, dtype=object)
        k = idx.shape[1]
        cols = {}
        for j in range(k):
            cols[f"_f{j}"] = pl.Series(names[idx[:, j]] if len(idx) else [], dtype=pl.String)
            cols[f"_c{j}"] = pl.Series(np.round(vals[:, j], 4), dtype=pl.Float64)
        tmp = pl.DataFrame(cols) if k else pl.DataFrame({"_": pl.Series([], dtype=pl.Int8)})
        if k and tmp.height:
            parts = [
                pl.concat_str(
                    [
                        pl.lit('{"feature":"'),
                        pl.col(f"_f{j}"),
                        pl.lit('","contribution":'),
                        pl.col(f"_c{j}").cast(pl.String),
                        pl.lit("}"),
                    ]
                )
                for j in range(k)
            ]
            reasons = tmp.select(
                pl.concat_str([pl.lit("["), pl.concat_str(parts, separator=","), pl.lit("]")]).alias("r")
            )["r"]
        else:
            reasons = pl.Series("r", ["[]"] * df.height, dtype=pl.String)
        out = out.with_columns(reasons.alias("reason_codes"))
    return out
