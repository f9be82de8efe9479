"""`outflow build`'s progress, from dbt's own per-node events (``outflow.build.run_dbt(on_node=...)``).

On a terminal: a rich progress bar per dbt invocation (node k of n, the node running), and each failure as it
happens. Piped or redirected: one plain line per finished node on stderr (stdout stays for results). Either
way a closing line counts what passed, failed, warned and was skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from outflow.build import NodeEvent

FAILED = ("error", "fail", "runtime error")
PASSED = ("success", "pass", "ok")


def _bucket(status: str) -> str:
    if status in PASSED:
        return "passed"
    if status in FAILED:
        return "failed"
    if status == "warn":
        return "warned"
    return "skipped"


@contextmanager
def dbt_progress(console: Console) -> Iterator[Callable[[NodeEvent], None]]:
    """Yield the ``on_node`` callback that shows dbt's progress on ``console``'s terminal (or stderr lines)."""
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    counts: Counter[str] = Counter()
    live = console.is_terminal and getattr(console, "output", "text") != "json"
    progress = Progress(
        TextColumn("dbt {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not live,
    )
    task: dict[str, Any] = {"id": None}

    def on_node(event: NodeEvent) -> None:
        if event["event"] == "begin":  # a dbt invocation (`outflow build` runs up to three)
            if task["id"] is not None:
                progress.update(task["id"], visible=False)
            task["id"], task["total"] = progress.add_task("starting", total=None), 0
            return
        if event["event"] == "start":
            if event["total"] and not task.get("total"):
                task["total"] = event["total"]
                progress.update(task["id"], total=event["total"])
            progress.update(task["id"], description=f"{event['resource_type']} {event['name']}")
            return
        bucket = _bucket(event["status"])
        counts[bucket] += 1
        progress.advance(task["id"])
        of = f"/{task['total']}" if task.get("total") else ""
        line = f"dbt [{event['index']}{of}] {event['status']}: {event['resource_type']} {event['name']}"
        if bucket == "failed":
            (progress.console if live else err).print(f"[red]{line}[/red]", highlight=False, soft_wrap=True)
        elif not live:
            err.print(line, highlight=False, soft_wrap=True, markup=False)

    try:
        with progress:
            yield on_node
    finally:
        summary = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "warned", "skipped"))
        err.print(f"dbt: {summary}", highlight=False)
