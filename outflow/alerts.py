"""Alerts to a chat or incident tool: one JSON POST ``{"text": ...}`` (the shape Slack, Mattermost and Microsoft
Teams incoming webhooks take) to the URL in ``OUTFLOW_ALERT_WEBHOOK_URL``. The URL is a secret: it comes only from
the environment and is never printed or logged. Unset: alerts are only logged. Dagster's alert sensors
(``orchestration/defs/alerts.py``) call ``post_alert``; so can any scheduler."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

SETTING = "OUTFLOW_ALERT_WEBHOOK_URL"


#: a sensor tick must stay quick: at most this many attempts, within this many seconds in all
ATTEMPTS = 3
BUDGET_SECONDS = 10.0


class _Retriable(Exception):
    """The receiver answered 429 or 5xx: worth another attempt."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def post_alert(text: str, timeout: float = 4.0) -> bool:
    """Send ``text`` to the alert webhook; True when it accepted it. A connection error, a timeout, 429 or 5xx
    is retried (tenacity, exponential backoff with jitter, ``ATTEMPTS`` within ``BUDGET_SECONDS``). Never raises:
    an alert that cannot be delivered is logged (without the URL), so the failure it reports is not hidden by
    another."""
    import httpx
    from tenacity import (
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        stop_after_delay,
        wait_exponential_jitter,
    )

    url = os.environ.get(SETTING, "").strip()
    log.warning("alert: %s", text)
    if not url:
        return False
    retrying = Retrying(
        retry=retry_if_exception_type((httpx.TransportError, _Retriable)),
        stop=stop_after_attempt(ATTEMPTS) | stop_after_delay(BUDGET_SECONDS),
        wait=wait_exponential_jitter(initial=0.2, max=2.0),
        reraise=True,
    )
    try:
        with httpx.Client(timeout=timeout) as client:
            for attempt in retrying:
                with attempt:
                    response = client.post(url, json={"text": text})
                    if response.status_code == 429 or response.status_code >= 500:
                        raise _Retriable(response.status_code)
    except (httpx.HTTPError, _Retriable) as exc:  # the exception's text may hold the URL: its kind only
        why = str(exc) if isinstance(exc, _Retriable) else type(exc).__name__
        log.error("alert not delivered (%s) after %d attempts: %s", SETTING, retrying.statistics["attempt_number"], why)
        return False
    if response.status_code >= 300:
        log.error("alert not delivered (%s): HTTP %s", SETTING, response.status_code)
        return False
    return True


def sync_alerts(failed: list[str], checks: list[tuple[str, str, str]]) -> str | None:
    """The text of one alert for a run: the sync assets that failed, and the failed checks of sync assets as
    (asset, check, how to list the rows); None when there is nothing to say."""
    lines = [f"sync {name} failed" for name in failed]
    lines += [f"{asset}: check {check} failed; {hint}" for asset, check, hint in checks]
    return "Outflow: " + "; ".join(lines) if lines else None
