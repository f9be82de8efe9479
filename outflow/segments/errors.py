"""The one error type of the segments package: a user mistake, reported as one line."""

from __future__ import annotations

try:  # the foundation's user-facing error type, when present
    from outflow.errors import OutflowError as _Base
except ImportError:  # pragma: no cover - only before the foundation lands
    _Base = Exception


class SegmentError(_Base):  # type: ignore[misc, valid-type]
    """A bad segment, audience or trigger definition. The message names the file and the segment."""
