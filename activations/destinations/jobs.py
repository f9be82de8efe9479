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
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from activations.destinations.base import Call, PreparedRequest, Record, RowResult
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


# --- settling a batch by its job (shared by the vendors whose uploads are asynchronous jobs) --------------


def reject_all(records: list[Record], message: str) -> list[RowResult]:
    return [RowResult(r.key, False, message) for r in records]


async def submit(
    dest: Destination,
    call: Call,
    records: list[Record],
    job_id_of: Callable[[httpx.Response], str],
    await_job: Callable[[Call, str, list[Record]], Awaitable[list[RowResult]]],
) -> httpx.Response | list[RowResult]:
    """Send the upload; a 4xx naming rows rejects them and resends the rest; a 2xx is settled by its job."""
    resp = await call(dest.build_request(records))
    if 400 <= resp.status_code < 500:
        return await dest.resend_without_bad_rows(call, records, resp)
    if not 200 <= resp.status_code < 300:
        return resp
    try:
        job_id = str(job_id_of(resp))
    except (ValueError, KeyError, TypeError):
        msg = f"{dest.type}: upload accepted (HTTP {resp.status_code}) without a job id: not confirmed"
        return reject_all(records, msg)
    return await await_job(call, job_id, records)


async def finished_job(
    dest: Destination,
    call: Call,
    status_req: PreparedRequest,
    records: list[Record],
    *,
    head: str,
    polling: JobPolling,
    attrs: Callable[[httpx.Response], dict[str, Any]],
    done: tuple[str, ...],
) -> dict[str, Any] | list[RowResult]:
    """Poll until the job's ``status`` is in ``done``: the job's attributes, or every row rejected when the job
    could not be seen finishing (status unreadable, or still running at the timeout)."""

    def finished(r: httpx.Response) -> bool:
        return r.status_code != 200 or attrs(r).get("status") in done

    polled = await poll(lambda: call(status_req), finished, polling, what=head)
    if polled.last.status_code != 200:
        return reject_all(records, f"{head}: status not readable ({dest.error_message(polled.last)}); not confirmed")
    job = attrs(polled.last)
    if not polled.finished:
        return reject_all(
            records,
            f"{head} still {job.get('status')} after {polling.timeout:g}s "
            "(destination.options.job_poll_timeout_seconds): not confirmed, re-sent next run",
        )
    return job


def settle(
    records: list[Record], head: str, named: dict[str, str], failed: int | None, *, none_confirmed: bool = False
) -> list[RowResult]:
    """Rows the job names are rejected with the vendor's message. If the job refused more rows than it names
    (or ``none_confirmed``), the other rows are not confirmed either and are rejected too (re-sent next run)."""
    unattributed = none_confirmed or (failed is not None and failed > len(named))
    rest = (
        f"{head}: {failed if failed is not None else 'some'} rows refused, {len(named)} named by the vendor; "
        "not confirmed"
    )
    return [
        RowResult(r.key, False, f"{head}: {named[r.key]}")
        if r.key in named
        else RowResult(r.key, not unattributed, rest if unattributed else None)
        for r in records
    ]


def json_object(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
