"""Bounded polling of a vendor's asynchronous job (SendGrid imports, Klaviyo bulk import jobs, Google Ads
offline user data job operations).

Every status request goes through the deliverer's ``call`` (shared limiter, retries on 429/5xx/timeouts,
``AuthFailed`` on 401/403). Between requests the wait doubles from ``job_poll_interval_seconds`` up to
``job_poll_max_interval_seconds`` (the first request waits one interval); after ``job_poll_timeout_seconds``
the last answer is returned with ``finished=False`` and the destination decides how to record a job it could
not see finish.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from outflow.errors import OutflowError

if TYPE_CHECKING:
    from activations.destinations.base import Destination

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class JobPolling:
    timeout: float
    interval: float
    max_interval: float

    @classmethod
    def from_options(
        cls, dest: Destination, *, timeout: float, interval: float = 0.5, max_interval: float = 10.0
    ) -> JobPolling:
        """``destination.options.job_poll_{timeout,interval,max_interval}_seconds`` (validated)."""
        values = {}
        for name, default in (("timeout", timeout), ("interval", interval), ("max_interval", max_interval)):
            key = f"job_poll_{name}_seconds"
            raw = dest.option(key, default)
            try:
                value = float(raw)
            except (TypeError, ValueError):
                value = -1.0
            if isinstance(raw, bool) or value < 0 or (name != "timeout" and value == 0):
                raise OutflowError(
                    f"{dest.cfg.path or dest.cfg.name}: destination.options.{key}: expected a number of seconds "
                    f"{'>= 0' if name == 'timeout' else '> 0'}, got {raw!r}"
                )
            values[name] = value
        return cls(**values)


@dataclass
class PollResult(Generic[T]):
    last: T
    finished: bool
    waited: float
    polls: int


async def poll(
    fetch: Callable[[], Awaitable[T]],
    is_finished: Callable[[T], bool],
    polling: JobPolling,
    *,
    what: str = "job",
) -> PollResult[T]:
    """Fetch the job's state until ``is_finished`` or the timeout. The first fetch comes after one interval
    (a job just submitted is never done at once); at least one fetch is always made."""
    t0 = time.monotonic()
    wait = polling.interval
    polls = 0
    await asyncio.sleep(min(wait, polling.timeout))
    wait = min(wait * 2, polling.max_interval)
    while True:
        state = await fetch()
        polls += 1
        if is_finished(state):
            return PollResult(state, True, time.monotonic() - t0, polls)
        left = polling.timeout - (time.monotonic() - t0)
        if left <= 0:
            log.warning("%s still running after %.1fs (%d status requests)", what, polling.timeout, polls)
            return PollResult(state, False, time.monotonic() - t0, polls)
        await asyncio.sleep(min(wait, left))
        wait = min(wait * 2, polling.max_interval)
