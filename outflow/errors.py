"""The one exception type for mistakes a user can make: the CLI prints its message as one line."""


class OutflowError(Exception):
    """A user-facing error: what is wrong, where, and how to fix it."""


def did_you_mean(name: str, choices: list[str]) -> str:
    """The hint for an unknown name: "; did you mean 'x'?" with the nearest choice, else the choices."""
    import difflib

    near = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean '{near[0]}'?" if near else f"; choose from {', '.join(choices) or '(none)'}"
