"""The one exception type for mistakes a user can make: the CLI prints its message as one line."""


class OutflowError(Exception):
    """A user-facing error: what is wrong, where, and how to fix it."""
