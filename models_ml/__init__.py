"""Predictive lead scoring: features (polars), training (xgboost), evaluation, registry, reason codes.

Plain functions with no Dagster import; `orchestration/defs/ml.py` wires them into assets.
"""

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
