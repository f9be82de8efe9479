"""The one exception type for user-facing errors."""

from __future__ import annotations


class OutflowError(Exception):
    """A user-facing error: the CLI prints its message as one red line and exits 1, no traceback."""
