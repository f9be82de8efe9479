"""The API version each vendor destination speaks, and the vendors' published retirement schedules.

One table for the destinations, ``outflow sync validate`` and the sandboxes: a version past its sunset date is
refused everywhere (the sync does not start; the sandbox answers the way the vendor does), a version within
``WARN_DAYS`` of it is warned about. Sources are cited in docs/destinations.md ("API versions").
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

WARN_DAYS = 90


@dataclass(frozen=True)
class VendorVersions:
    vendor: str
    default: str
    """The version a sync uses unless ``destination.options.<option>`` names another."""
    option: str | None
    """The sync option that overrides the version (``None``: fixed by the vendor, e.g. SendGrid's ``/v3``)."""
    sunsets: dict[str, dt.date | None]
    """Published versions -> the day the vendor stops serving them (``None``: no date announced)."""
    retired_before: str | None = None
    """Versions older than this one (compared as numbers or ISO dates) are retired even when not listed."""

    def sunset(self, version: str) -> dt.date | None:
        return self.sunsets.get(version)

    def retired(self, version: str, today: dt.date) -> bool:
        day = self.sunsets.get(version)
        if day is not None and day <= today:
            return True
        return self.retired_before is not None and _order(version) < _order(self.retired_before)

    def oldest_served(self, today: dt.date) -> str | None:
        served = [v for v in self.sunsets if not self.retired(v, today)]
        return min(served, key=_order) if served else None


def _order(version: str) -> tuple[float, ...]:
    """``v62.0`` -> (62, 0); ``2026-09`` -> (2026, 9); ``v3`` -> (3,)."""
    parts = version.lstrip("v").replace("-", ".").split(".")
    try:
        return tuple(float(p) for p in parts)
    except ValueError:
        return (0.0,)


_D = dt.date

VERSIONS: dict[str, VendorVersions] = {
    "meta_audiences": VendorVersions(
        "Meta Marketing API",
        "v27.0",
        "api_version",
        {
            "v21.0": _D(2025, 9, 9),
            "v22.0": _D(2026, 2, 19),
            "v23.0": _D(2026, 6, 9),
            "v24.0": _D(2026, 11, 10),
            "v25.0": _D(2027, 2, 23),
            "v26.0": None,
            "v27.0": None,
        },
        retired_before="v21.0",
    ),
    "salesforce": VendorVersions(
        "Salesforce Platform API",
        "v66.0",
        "api_version",
        {"v30.0": _D(2025, 6, 14), **{f"v{n}.0": _D(2028, 6, 1) for n in range(31, 41)}, "v66.0": None},
        retired_before="v31.0",
    ),
    "hubspot": VendorVersions(
        "HubSpot CRM API",
        "2026-09",
        "api_version",
        {"v3": _D(2027, 9, 1), "2026-03": _D(2027, 9, 30), "2026-09": _D(2028, 3, 8)},
        retired_before="v3",
    ),
    "klaviyo": VendorVersions(
        "Klaviyo API revision",
        "2026-10-15",
        "revision",
        {
            "2024-10-15": _D(2026, 10, 15),
            "2025-01-15": _D(2027, 1, 15),
            "2025-04-15": _D(2027, 4, 15),
            "2025-07-15": _D(2027, 7, 15),
            "2025-10-15": _D(2027, 10, 15),
            "2026-01-15": _D(2028, 1, 15),
            "2026-04-15": _D(2028, 4, 15),
            "2026-07-15": _D(2028, 7, 15),
            "2026-10-15": _D(2028, 10, 15),
        },
        retired_before="2024-10-15",
    ),
    "sendgrid": VendorVersions("SendGrid v3 API", "v3", None, {"v3": None}),
    "mailchimp": VendorVersions("Mailchimp Marketing API", "3.0", None, {"3.0": None}),
    "google_ads_customer_match": VendorVersions(
        "Google Ads API (legacy Customer Match path)",
        "v26",
        "api_version",
        {
            "v18": _D(2025, 8, 20),
            "v19": _D(2026, 2, 11),
            "v20": _D(2026, 6, 10),
            "v21": _D(2026, 8, 5),
            "v22": _D(2026, 10, 7),
            "v23": None,
            "v24": None,
            "v25": None,
            "v26": None,
        },
        retired_before="v18",
    ),
}


def today() -> dt.date:
    """The day versions are judged on: ``OUTFLOW_TODAY`` (ISO date, for reproducible checks) or today in UTC."""
    value = os.environ.get("OUTFLOW_TODAY")
    if value:
        return dt.date.fromisoformat(value)
    return dt.datetime.now(dt.UTC).date()


def version_problem(dest_type: str, version: str, on: dt.date | None = None) -> tuple[str, str] | None:
    """``("error", why)`` past the vendor's sunset, ``("warning", why)`` within ``WARN_DAYS`` of it, else None."""
    table = VERSIONS.get(dest_type)
    if table is None:
        return None
    on = on or today()
    if table.retired(version, on):
        day = table.sunset(version)
        when = f"since {day.isoformat()}" if day else f"(older than {table.retired_before})"
        return "error", (
            f"{table.vendor} {version} is retired {when}; use {table.default} (oldest still served: "
            f"{table.oldest_served(on)})"
        )
    day = table.sunset(version)
    if day is not None and (day - on).days <= WARN_DAYS:
        return "warning", (
            f"{table.vendor} {version} is retired on {day.isoformat()} ({(day - on).days} days); "
            f"move to {table.default}"
        )
    return None


def served(dest_type: str, version: str, on: dt.date | None = None) -> bool:
    """Whether the vendor still serves ``version`` (what the sandboxes check)."""
    table = VERSIONS[dest_type]
    return not table.retired(version, on or today())


def sync_version_problem(cfg: Any) -> tuple[str, str] | None:
    """``Destination.version_problem`` of a sync's destination, without credentials or a connection (for
    ``outflow sync validate``): the version is read from the sync's options or base URL alone."""
    from activations.destinations import DESTINATIONS

    cls = DESTINATIONS[cfg.destination.type]
    dest = object.__new__(cls)  # only ``cfg`` is read: no secret is needed to judge a version
    dest.cfg = cfg
    return dest.version_problem()
