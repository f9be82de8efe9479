"""The one user-facing error of the quality gate."""

from __future__ import annotations

from outflow.errors import OutflowError


class QualityError(OutflowError):
    """A problem the user can fix: a bad config key, an unknown asset, a missing table."""
