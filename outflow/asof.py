"""The one as-of date every time-dependent command uses.

Where it comes from, first that is set: the command's ``--as-of``, the ``OUTFLOW_AS_OF`` setting, the loaded
dataset's date (``raw.dataset_info``, written by `outflow load` from the folder's ``AS_OF`` file), else the clock.

What it means: a bare date (``2026-11-01``) is the *end* of that day in the warehouse's time zone, so everything
that happened on that day counts: "now" is the next midnight, and models count events strictly before it. A
timestamp is taken as given; one with a UTC offset is converted to the warehouse's time zone (OUTFLOW_TIMEZONE,
default UTC), because the warehouse stores naive timestamps in that zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outflow import settings
from outflow.errors import OutflowError


@dataclass(frozen=True)
class AsOf:
    #: the exclusive end of the data (naive, warehouse time zone); None means the clock
    moment: dt.datetime | None
    #: where it came from: "--as-of", "OUTFLOW_AS_OF", "loaded dataset" or "clock"
    source: str
    #: what was given (a date or a timestamp), for messages
    given: str | None = None

    @property
    def dbt_var(self) -> str | None:
        """The `as_of` var for dbt (a full timestamp, so no model has to guess the end of day)."""
        return self.moment.isoformat(sep=" ") if self.moment else None

    def at(self) -> dt.datetime:
        """The moment, or now on the clock (in the warehouse's time zone) when none is set."""
        return self.moment or dt.datetime.now(_zone()).replace(tzinfo=None)

    def describe(self) -> str:
        if self.moment is None:
            return "as of now (clock; no --as-of, OUTFLOW_AS_OF or loaded dataset date)"
        if self.given and len(self.given) == 10:
            return f"as of {self.given} (end of day, {settings.warehouse_timezone()}; from {self.source})"
        return f"as of {self.moment:%Y-%m-%d %H:%M:%S} ({settings.warehouse_timezone()}; from {self.source})"


def describe_moment(moment: dt.datetime) -> str:
    """'2026-11-01 (end of day)' for the next midnight, else the timestamp: how a stored as-of is shown."""
    if moment.time() == dt.time():
        return f"{moment - dt.timedelta(days=1):%Y-%m-%d} (end of day)"
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def _zone() -> ZoneInfo:
    name = settings.warehouse_timezone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OutflowError(f"OUTFLOW_TIMEZONE={name!r} is not a known time zone: use an IANA name, e.g. UTC") from None


def end_of_day(day: dt.date) -> dt.datetime:
    """The exclusive end of `day`: the next midnight."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def parse_as_of(value: str | dt.date | dt.datetime, where: str = "--as-of") -> dt.datetime:
    """A date (end of that day) or a timestamp, as a naive datetime in the warehouse's time zone."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        return end_of_day(value)
    else:
        text = value.strip()
        try:
            if len(text) == 10:
                return end_of_day(dt.date.fromisoformat(text))
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise OutflowError(
                f"{where} {text!r} is not an ISO date or timestamp: use YYYY-MM-DD (end of that day) "
                "or YYYY-MM-DDTHH:MM:SS"
            ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(_zone()).replace(tzinfo=None)
    return moment


def resolve_as_of(explicit: str | dt.date | dt.datetime | None = None, con: object | None = None) -> AsOf:
    """The as-of to use: `explicit` (a command's --as-of), else OUTFLOW_AS_OF, else the loaded dataset's date
    (read through `con`, a Warehouse), else the clock."""
    if explicit is not None and explicit != "":
        return AsOf(parse_as_of(explicit), "--as-of", str(explicit))
    if setting := settings.as_of_setting():
        return AsOf(parse_as_of(setting, "OUTFLOW_AS_OF"), "OUTFLOW_AS_OF", setting)
    if con is not None:
        from outflow.load import dataset_as_of

        if data := dataset_as_of(con):  # type: ignore[arg-type]
            return AsOf(parse_as_of(data, "raw.dataset_info"), "loaded dataset", data)
    return AsOf(None, "clock")
