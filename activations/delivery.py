"""Delivery: async httpx, one shared rate limiter per destination, retries, batch splitting.

Failure handling (one rule per failure class):
- 429, 5xx, timeout, connection error: retried with exponential backoff and jitter, or after the delay the
  vendor signals (``Destination.throttle_delay``: Retry-After, X-RateLimit-Reset, Meta's usage header...);
- every wait to retry is spent from the run's retry budget (``destination.retry_budget_seconds``); a wait past
  it raises ``RetryBudgetSpent``: the run stops cleanly, unacknowledged rows stay pending. A pause a vendor's
  quota report asks for on an accepted answer (``Destination.quota_delay``, slowing down before being refused)
  is pacing, not a retry: only the run deadline bounds it;
- 401/403: ``AuthFailed`` at once (no retry);
- a refusal about the request or the account (``Destination.refusal_scope`` is ``"request"``: a missing list,
  a permission, a quota, a retired version): ``AccountLevelError`` after that one request, never split;
- other 4xx for a batch of several rows: the batch is split in halves to isolate the bad record(s);
- other 4xx for a single row: that row is rejected with the destination's message;
- a batch whose request body would exceed the destination's ``max_batch_bytes``: sent in parts that fit,
  before any request (a single record over the limit is rejected unsent);
- a row the destination holds back for a reason of its own (``RowResult.deferred``, e.g. quiet hours): neither
  acknowledged nor rejected; kept apart (``take_deferred``) for the engine, which offers it again next run;
- 2xx: the destination parses per-row outcomes (partial failures). An answer that does not confirm its rows
  (no per-row results where the vendor's contract has them, wrong counts, not JSON, any parse error) rejects
  every row of the request as unconfirmed: retried next run, never counted delivered, never a crash;
- the same refusal (404/405/410/413) again and again before any request succeeded: ``AccountLevelError``,
  the sync stops (the endpoint, not a row, is wrong) instead of splitting down to one request per row;
- ``Retry-After`` is capped (``destination.max_retry_after_seconds``), and no wait goes past the run's
  deadline (``run_deadline_seconds``): ``RunDeadline`` stops the run, unsent rows stay pending.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, stop_never, wait_exponential_jitter

from activations.config import RateLimit
from activations.destinations.base import (
    Batch,
    Destination,
    PreparedRequest,
    Record,
    Rejections,
    RowResult,
    Unconfirmed,
    deferrals,
    rejections,
)
from outflow.errors import OutflowError

log = logging.getLogger(__name__)


class AuthFailed(OutflowError):
    """The destination refused our credentials (401/403): the sync stops at once."""


class DestinationUnavailable(OutflowError):
    """Retries exhausted on transient failures: the sync stops; unsent rows go next run."""


class AccountLevelError(OutflowError):
    """The destination refuses every request the same way (wrong endpoint, object or account limit)."""


class RunDeadline(OutflowError):
    """The run's deadline came: the sync stops cleanly, unsent rows stay pending for the next run."""


class RetryBudgetSpent(RunDeadline):
    """The run's retry budget (time spent waiting on throttling and failures) is spent: the sync stops cleanly,
    unacknowledged rows stay pending for the next run."""


# what a 2xx answer's parsing may raise: the rows are unconfirmed (rejected, retried next run)
_UNPARSEABLE = (Unconfirmed, ValueError, KeyError, TypeError, AttributeError, IndexError)
# refusals that, repeated before anything succeeded, mean the endpoint itself is wrong
_ACCOUNT_LEVEL_STATUSES = frozenset({404, 405, 410, 413})
_ACCOUNT_LEVEL_AFTER = 6


def unconfirmed(keys: list[str], why: object) -> Rejections:
    msg = f"unconfirmed: unexpected answer from the destination ({str(why)[:200]}); sent again next run"
    return dict.fromkeys(keys, msg)


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class DeliveryStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429 answers received
    splits: int = 0  # refused batches split to isolate bad records
    size_splits: int = 0  # batches sent in parts to stay under the destination's byte limit


_LIMITERS: dict[tuple[int, str], AsyncLimiter] = {}


def shared_limiter(base_url: str, rate: RateLimit | None) -> AsyncLimiter | None:
    """One limiter per destination base URL (per event loop), shared by every sync pointing there."""
    if rate is None:
        return None
    loop_id = id(asyncio.get_running_loop())
    key = (loop_id, base_url)
    lim = _LIMITERS.get(key)
    if lim is None:
        # drop limiters of finished loops
        for k in [k for k in _LIMITERS if k[0] != loop_id]:
            del _LIMITERS[k]
        # Paced, nearly burst-free (10% of the allowance): a burst allowance equal to the
        # vendor's would race the vendor's own bucket (requests in flight arrive bunched) and get 429s.
        burst = max(1.0, min(rate.requests, rate.requests * 0.1))
        lim = AsyncLimiter(burst, rate.per_seconds * burst / rate.requests)
        _LIMITERS[key] = lim
    return lim


class Deliverer:
    """Sends batches for one sync through a shared client and limiter."""

    def __init__(
        self,
        dest: Destination,
        client: httpx.AsyncClient,
        limiter: AsyncLimiter | None,
        *,
        max_retries: int | None,
        max_backoff: float,
        initial_backoff: float = 0.1,
        max_retry_after: float = 60.0,
        deadline: float | None = None,
        retry_budget: float | None = None,
    ) -> None:
        """``deadline``: a ``time.monotonic()`` value past which no wait may reach (``RunDeadline``);
        ``retry_budget``: seconds this run may spend waiting to retry (``RetryBudgetSpent``); ``max_retries``
        None: attempts bounded by the budget alone."""
        self.dest = dest
        self.client = client
        self.limiter = limiter
        self.max_retries = max_retries
        self.max_backoff = max_backoff
        self.initial_backoff = initial_backoff
        self.max_retry_after = max_retry_after
        self.deadline = deadline
        self.retry_budget = retry_budget
        self.waited = 0.0  # seconds spent from the retry budget
        self.paused_until = 0.0  # monotonic time before which no request goes (the vendor's quota report)
        self.succeeded = 0  # 2xx answers in this run
        self.same_refusals: tuple[tuple[int, str], int] = ((0, ""), 0)  # (status, message), times in a row
        self.stats = DeliveryStats()
        self.notes: dict[str, str] = {}  # key -> the destination's message on a row it accepted
        self.deferred: dict[str, str] = {}  # key -> why the destination held the row back for the next run

    def _wait(self, state) -> float:  # type: ignore[no-untyped-def]
        base = wait_exponential_jitter(
            multiplier=self.initial_backoff, max=self.max_backoff, jitter=self.initial_backoff
        )(state)
        exc = state.outcome.exception() if state.outcome else None
        ra = getattr(exc, "retry_after", None)
        wait = max(base, min(ra, self.max_retry_after)) if ra is not None else base
        self.spend(wait, f"waiting {wait:g}s to retry ({exc})")
        return wait

    def spend(self, wait: float, doing: str) -> None:
        """Take ``wait`` seconds from the run's retry budget and check the deadline; ``RetryBudgetSpent`` when
        the budget would be exceeded (the run stops; its unacknowledged rows stay pending)."""
        if self.retry_budget is not None and self.waited + wait > self.retry_budget:
            raise RetryBudgetSpent(
                f"retry budget spent: {self.waited:.1f}s of {self.retry_budget:g}s already waited on the "
                f"destination, and {doing}"
            )
        self.check_deadline(wait, doing)
        self.waited += wait

    def check_deadline(self, wait: float = 0.0, doing: str = "sending") -> None:
        """``RunDeadline`` if the run's deadline has come, or would pass during ``wait`` seconds."""
        if self.deadline is not None and time.monotonic() + wait > self.deadline:
            raise RunDeadline(f"run deadline reached while {doing}")

    async def _send_once(self, req: PreparedRequest) -> httpx.Response:
        pause = self.paused_until - time.monotonic()
        if pause > 0:  # the vendor reported its quota (nearly) spent: wait before it refuses
            await asyncio.sleep(pause)
        if self.limiter is not None:
            await self.limiter.acquire()
        self.stats.requests += 1
        try:
            resp = await self.client.request(req.method, req.url, headers=req.headers, content=req.content)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc or 'no response'}") from exc
        if resp.status_code == 429 or resp.status_code >= 500 or self.dest.is_transient(resp):
            if resp.status_code == 429:
                self.stats.throttled += 1
            raise _Transient(self.dest.error_message(resp), self.dest.throttle_delay(resp))
        self._pace(resp)
        self._watch(resp)
        return resp

    def _pace(self, resp: httpx.Response) -> None:
        """Pause the next requests when the vendor reports its quota (nearly) spent (``quota_delay``)."""
        delay = self.dest.quota_delay(resp)
        if not delay or delay <= 0:
            return
        until = time.monotonic() + delay
        if until > self.paused_until:
            self.check_deadline(delay, f"pausing {delay:g}s for the vendor's quota")
            self.paused_until = until
            log.info("sync %s: the destination reports its quota nearly spent; pausing %.2fs", self.dest.cfg.name,
                     delay)  # fmt: skip

    def _watch(self, resp: httpx.Response) -> None:
        """Stop the run when the same endpoint-level refusal repeats before anything has succeeded."""
        if 200 <= resp.status_code < 300:
            self.succeeded += 1
            self.same_refusals = ((0, ""), 0)
            return
        if self.succeeded or resp.status_code not in _ACCOUNT_LEVEL_STATUSES:
            return
        what = (resp.status_code, self.dest.error_message(resp))
        seen, times = self.same_refusals
        times = times + 1 if seen == what else 1
        self.same_refusals = (what, times)
        if times >= _ACCOUNT_LEVEL_AFTER:
            raise AccountLevelError(
                f"sync {self.dest.cfg.name}: destination {self.dest.cfg.destination.base_url} refused the "
                f"first {times} requests alike ({what[1]}); not a row problem: check destination.base_url, "
                "object and options; sync stopped, nothing left is lost"
            )

    async def call(self, req: PreparedRequest) -> httpx.Response:
        """One request with the shared limiter and retries; AuthFailed on 401/403."""
        try:
            async for attempt in AsyncRetrying(
                stop=stop_never if self.max_retries is None else stop_after_attempt(self.max_retries + 1),
                wait=self._wait,
                retry=retry_if_exception_type(_Transient),
                reraise=True,
            ):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.stats.retries += 1
                    resp = await self._send_once(req)
        except _Transient as exc:
            raise DestinationUnavailable(
                f"sync {self.dest.cfg.name}: destination {self.dest.cfg.destination.base_url} still failing "
                f"after {self.max_retries} retries: {exc}"
            ) from exc
        if self.dest.is_auth_failure(resp):
            raise AuthFailed(
                f"sync {self.dest.cfg.name}: destination refused the credentials from "
                f"{self.dest.cfg.destination.secret_env} ({self.dest.error_message(resp)}); sync stopped"
            )
        return resp

    async def deliver_batch(self, batch: Batch) -> Rejections:
        """The rows of a batch the destination refused (key -> message); the rest were acknowledged.

        Destinations with a fast path (``build_batch_request``) get one request encoded from the batch's
        columns; a batch whose body would exceed the destination's byte limit, a refused call, and every
        other destination take the Records path (``deliver``). Raises AuthFailed / DestinationUnavailable.
        """
        if not len(batch):
            return {}
        req = self.dest.build_batch_request(batch)
        limit = self.dest.batch_bytes_limit
        if req is None or (limit is not None and len(req.content) > limit):
            return self._outcomes(await self.deliver(batch.records()))
        resp = await self.call(req)
        if 200 <= resp.status_code < 300:
            try:
                return self.dest.batch_rejections(resp, batch)
            except _UNPARSEABLE as exc:
                return unconfirmed(batch.keys, exc)
        records = batch.records()
        answer: httpx.Response | list[RowResult] = resp
        if 400 <= resp.status_code < 500:
            self.check_scope(resp)
            answer = await self.dest.resend_without_bad_rows(self.call, records, resp)
        return self._outcomes(await self._settle(answer, records))

    def _outcomes(self, results: list[RowResult]) -> Rejections:
        """The refused rows of these results; what the destination says of a row it accepted (e.g. the vendor
        job that will apply it) and the rows it deferred are kept for ``take_notes`` and ``take_deferred``."""
        self.notes.update((r.key, r.message) for r in results if r.ok and r.message)
        self.deferred.update(deferrals(results))
        return rejections(results)

    def take_notes(self, keys: list[str]) -> dict[str, str]:
        """Remove and return the notes on these (acknowledged) rows, for the run log."""
        if not self.notes:
            return {}
        return {k: self.notes.pop(k) for k in keys if k in self.notes}

    def take_deferred(self, keys: list[str]) -> dict[str, str]:
        """Remove and return the rows of these keys the destination deferred (key -> why)."""
        if not self.deferred:
            return {}
        return {k: self.deferred.pop(k) for k in keys if k in self.deferred}

    async def deliver(self, records: list[Record]) -> list[RowResult]:
        """Per-row outcomes for these records; raises AuthFailed / DestinationUnavailable."""
        if not records:
            return []
        groups = self.dest.group(records)
        if len(groups) > 1:
            out: list[RowResult] = []
            for g in groups:
                out += await self.deliver(g)
            return out
        limit = self.dest.batch_bytes_limit
        if limit is not None:
            size = self.dest.request_bytes(records)
            if size > limit:
                return await self._deliver_in_parts(records, size, limit)
        try:
            answer = await self.dest.exchange(self.call, records)
        except _UNPARSEABLE as exc:
            return self._unconfirmed(records, exc)
        return await self._settle(answer, records)

    @staticmethod
    def _unconfirmed(records: list[Record], why: object) -> list[RowResult]:
        return [RowResult(k, False, m) for k, m in unconfirmed([r.key for r in records], why).items()]

    async def _deliver_in_parts(self, records: list[Record], size: int, limit: int) -> list[RowResult]:
        """A group whose request body would exceed the destination's byte limit: sent in parts that fit
        (each checked again), never as one oversized request. A single record too big on its own is rejected
        here, unsent, with the sizes in its message."""
        if len(records) == 1:
            msg = f"record encodes to {size} bytes; the destination takes at most {limit} bytes per request"
            return [RowResult(records[0].key, False, msg)]
        self.stats.size_splits += 1
        parts = min(len(records), max(2, -(-size // limit)))
        step = -(-len(records) // parts)
        log.debug("sync %s: %d records encode to %d bytes > %d; sending in %d parts",
                  self.dest.cfg.name, len(records), size, limit, parts)  # fmt: skip
        out: list[RowResult] = []
        for i in range(0, len(records), step):
            out += await self.deliver(records[i : i + step])
        return out

    async def _settle(self, answer: httpx.Response | list[RowResult], records: list[Record]) -> list[RowResult]:
        """Per-row outcomes from an exchange's answer: RowResults as they are; a 2xx parsed row by row; a
        refused call rejects a single record or is split in halves to isolate the bad record(s)."""
        if isinstance(answer, list):
            results = answer
        elif 200 <= answer.status_code < 300:
            try:
                results = self.dest.parse_response(answer, records)
            except _UNPARSEABLE as exc:
                return self._unconfirmed(records, exc)
        else:
            return await self._split(answer, records)
        if sorted(r.key for r in results) != sorted(r.key for r in records):
            return self._unconfirmed(records, f"{len(results)} row results for {len(records)} rows")
        return results

    def check_scope(self, resp: httpx.Response) -> None:
        """``AccountLevelError`` when a refusal is about the request or the account, not its rows."""
        if self.dest.refusal_scope(resp) == "request":
            raise AccountLevelError(
                f"sync {self.dest.cfg.name}: destination {self.dest.cfg.destination.base_url} refused the request, "
                f"not its rows: {self.dest.error_message(resp)}; sync stopped after one request (fix the account, "
                "list or version; the rows stay pending)"
            )

    async def _split(self, resp: httpx.Response, records: list[Record]) -> list[RowResult]:
        self.check_scope(resp)
        message = self.dest.error_message(resp)
        if len(records) == 1:
            return [RowResult(records[0].key, False, message)]
        self.stats.splits += 1
        mid = len(records) // 2
        log.info("sync %s: batch of %d refused (%s); splitting", self.dest.cfg.name, len(records), message)
        left = await self.deliver(records[:mid])
        right = await self.deliver(records[mid:])
        return left + right
