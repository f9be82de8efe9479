"""The one user-facing error of the quality gate."""

from __future__ import annotations

try:  # the foundation's shared error type, so the CLI prints one red line
    from outflow.errors import OutflowError as _Base
except ImportError:  # pragma: no cover - before the foundation lands
    _Base = Exception  # type: ignore[misc,assignment]


class QualityError(_Base):  # type: ignore[valid-type,misc]
    """A problem the user can fix: a bad config key, an unknown asset, a missing table."""
