"""Predictive lead scoring: features (polars), training (xgboost), evaluation, registry, reason codes.

Plain functions with no Dagster import; `orchestration/defs/ml.py` wires them into assets.
"""

import os

# xgboost's OpenMP threads spin while they wait for work by default. On a shared 2-core machine the
# spinning threads compete with the working ones: training 100k rows took 6.5 CPU seconds spinning
# against 1.0 passive (bench/ml.py). It must be set before xgboost loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# ruff: noqa: E402

from models_ml.evaluation import evaluate, fairness_audit, score_metrics
from models_ml.model import TrainedModel, score, train
from models_ml.registry import ModelRegistry, decide_promotion

__all__ = [
    "ModelRegistry",
    "TrainedModel",
    "decide_promotion",
    "evaluate",
    "fairness_audit",
    "score",
    "score_metrics",
    "train",
]
