"""OUTFLOW_SCHEDULES: the real definitions create every schedule stopped unless it says ``on``; any other value
stops the definitions from loading with one line naming the setting."""

import dagster as dg
import pytest

from orchestration.definitions import build_definitions
from outflow.errors import OutflowError


def _statuses() -> dict[str, dg.DefaultScheduleStatus]:
    return {s.name: s.default_status for s in build_definitions().get_repository_def().schedule_defs}


def test_schedules_are_stopped_unless_the_setting_says_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTFLOW_SCHEDULES", raising=False)
    stopped = _statuses()
    assert {"outflow_daily_schedule", "ml_training_weekly"} <= set(stopped)
    assert any(name.startswith("activation_sync_") for name in stopped)
    assert set(stopped.values()) == {dg.DefaultScheduleStatus.STOPPED}
    monkeypatch.setenv("OUTFLOW_SCHEDULES", "On")
    running = _statuses()
    assert running.keys() == stopped.keys()  # every schedule, the syncs' and journeys' too
    assert set(running.values()) == {dg.DefaultScheduleStatus.RUNNING}
    monkeypatch.setenv("OUTFLOW_SCHEDULES", "off")
    assert set(_statuses().values()) == {dg.DefaultScheduleStatus.STOPPED}


def test_a_bad_value_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTFLOW_SCHEDULES", "yes please")
    with pytest.raises(OutflowError) as err:
        build_definitions()
    message = str(err.value)
    assert "\n" not in message and "OUTFLOW_SCHEDULES='yes please'" in message and "OUTFLOW_SCHEDULES=on" in message
