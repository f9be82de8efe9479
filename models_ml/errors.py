"""The error type for user-facing problems in models_ml (bad input, missing model, ...)."""

from __future__ import annotations

from outflow.errors import OutflowError


class ModelError(OutflowError):
    """A problem with the features, labels or model registry, explained in one line."""
