"""Asynchronous jobs in the sandboxes: a submitted job stays pending for ``job_seconds`` and is then processed,
as the vendor's own job queue does. Processing is lazy (done by the first request, or store read, after the
job is due), so no background thread is needed and a test sees the same order every time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class JobQueue:
    clock = staticmethod(time.monotonic)  # the time source (a test may move it by hand)

    def __init__(self, job_seconds: float, lock: threading.RLock) -> None:
        self.job_seconds = job_seconds
        self.lock = lock
        self._due: list[tuple[float, Callable[[], None]]] = []

    def submit(self, process: Callable[[], None], seconds: float | None = None) -> None:
        """``process`` runs (under the sandbox lock) once the job is due."""
        with self.lock:
            self._due.append((self.clock() + (self.job_seconds if seconds is None else seconds), process))

    def advance(self) -> None:
        """Process every job that is due, in submission order."""
        with self.lock:
            now = self.clock()
            due = [p for t, p in self._due if t <= now]
            self._due = [(t, p) for t, p in self._due if t > now]
            for process in due:
                process()

    def clear(self) -> None:
        with self.lock:
            self._due.clear()
