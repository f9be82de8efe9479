"""`outflow sync run`'s progress: a bar per sync on a terminal (rows sent of those planned, rate, rejected,
retries); plain lines on stderr when piped or redirected (at each tenth of the plan, and at the end).

Fed by the engine's ``on_progress`` callback (``run_sync(on_progress=...)``), which it calls once the plan is
known and after each acknowledged batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from activations.engine import SyncResult


class SyncProgress:
    def __init__(self, console: Console) -> None:
        self.live = console.is_terminal and getattr(console, "output", "text") != "json"
        self.err = Console(stderr=True, soft_wrap=True, highlight=False)
        self.progress = Progress(
            TextColumn("sync {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows  {task.fields[rate]}  rejected {task.fields[rejected]}  retries {task.fields[retries]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.live,
        )
        self.tasks: dict[str, TaskID] = {}
        self.said: dict[str, int] = {}  # piped: the last tenth of the plan said, per sync

    def __call__(self, res: SyncResult) -> None:
        done = res.acked + res.rejected + res.deferred
        name = res.sync_name
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=res.to_send, rate="", rejected=0, retries=0)
        task = self.tasks[name]
        elapsed = self.progress.tasks[task].elapsed or 0.0
        rate = f"{done / elapsed:,.0f} rows/s" if elapsed > 0 and done else ""
        self.progress.update(task, completed=done, rate=rate, rejected=res.rejected, retries=res.retries)
        if self.live:
            return
        tenth = 10 * done // res.to_send if res.to_send else 10
        if tenth > self.said.get(name, -1):  # the start, each further tenth, the end
            self.said[name] = tenth
            extra = (f", {res.deferred:,} deferred" if res.deferred else "") + (f", {rate}" if rate else "")
            self.err.print(
                f"sync {name}: {done:,}/{res.to_send:,} rows sent ({res.rejected:,} rejected, "
                f"{res.retries:,} retries{extra})",
                markup=False,
            )


@contextmanager
def sync_progress(console: Console) -> Iterator[Any]:
    """The ``on_progress`` callback drawing the bars (or printing the lines) while the block runs."""
    shown = SyncProgress(console)
    with shown.progress:
        yield shown
