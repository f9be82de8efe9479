"""The error type for user-facing problems in models_ml (bad input, missing model, ...)."""

from __future__ import annotations

try:  # the project's one user-facing error type; the CLI prints it as one red line
    from outflow.errors import OutflowError as _Base
except ImportError:  # pragma: no cover - only before the foundation provides outflow.errors
    _Base = Exception  # type: ignore[misc,assignment]


class ModelError(_Base):  # type: ignore[valid-type,misc]
    """A problem with the features, labels or model registry, explained in one line."""
