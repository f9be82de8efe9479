"""Every schedule of the definitions is made here, so one setting decides whether they start running:
OUTFLOW_SCHEDULES=on creates them running (a deployment whose daemon should run them from the first start);
unset or ``off``, they are created stopped and started in the UI or with ``dagster schedule start``."""

from __future__ import annotations

import os

import dagster as dg

from outflow.errors import OutflowError

SETTING = "OUTFLOW_SCHEDULES"
_STATUS = {"on": dg.DefaultScheduleStatus.RUNNING, "off": dg.DefaultScheduleStatus.STOPPED}


def default_status() -> dg.DefaultScheduleStatus:
    """The status OUTFLOW_SCHEDULES gives new schedules; any other value than on or off is one line."""
    value = os.environ.get(SETTING, "").strip().lower() or "off"
    if value not in _STATUS:
        shown = os.environ[SETTING].strip()[:40]
        raise OutflowError(f"{SETTING}={shown!r} is neither on nor off: set {SETTING}=on to create the schedules "
                           "running, or leave it unset (stopped)")  # fmt: skip
    return _STATUS[value]


def schedule(name: str, job: dg.UnresolvedAssetJobDefinition, cron: str) -> dg.ScheduleDefinition:
    """A schedule of ``job`` at ``cron``, running or stopped as OUTFLOW_SCHEDULES says."""
    return dg.ScheduleDefinition(name=name, job=job, cron_schedule=cron, default_status=default_status())
