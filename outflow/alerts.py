"""Alerts to a chat or incident tool: one JSON POST ``{"text": ...}`` (the shape Slack, Mattermost and Microsoft
Teams incoming webhooks take) to the URL in ``OUTFLOW_ALERT_WEBHOOK_URL``. The URL is a secret: it comes only from
the environment and is never printed or logged. Unset: alerts are only logged. Dagster's alert sensors
(``orchestration/defs/alerts.py``) call ``post_alert``; so can any scheduler."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

SETTING = "OUTFLOW_ALERT_WEBHOOK_URL"


def post_alert(text: str, timeout: float = 10.0) -> bool:
    """Send ``text`` to the alert webhook; True when it accepted it. Never raises: an alert that cannot be
    delivered is logged (without the URL), so the failure it reports is not hidden by another."""
    import httpx

    url = os.environ.get(SETTING, "").strip()
    log.warning("alert: %s", text)
    if not url:
        return False
    try:
        response = httpx.post(url, json={"text": text}, timeout=timeout)
    except httpx.HTTPError as exc:
        log.error("alert not delivered (%s): %s", SETTING, type(exc).__name__)
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
