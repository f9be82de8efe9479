"""Recorders: how a library's command hands its results to the app layer, which records them (the Dagster
history, orchestration/history.py) without the library importing it.

A library keeps a list of recorders (``RECORDERS``): each is a context manager factory, entered as the command
starts (so a recorder can get ready while the command works), whose value is called with each result, and left,
so waited for, before the command ends. The app layer (outflow/cli.py) adds its recorder to the list when the
command's module is first loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

Recorder = Callable[[], AbstractContextManager[Callable[..., Any]]]


@contextmanager
def recording(recorders: list[Recorder]) -> Iterator[Callable[..., None]]:
    """Enter every recorder; yield one callable that hands a result to each of them; leave them on the way out."""
    with ExitStack() as stack:
        hooks = [stack.enter_context(start()) for start in recorders]

        def record(*result: Any) -> None:
            for hook in hooks:
                hook(*result)

        yield record
