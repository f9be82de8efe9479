"""Alerts: a failed run (a sync refused or failed, or any other step), and sync checks that did not pass
(rejected rows, too many invalid rows) in a run that succeeded, posted by ``outflow.alerts.post_alert`` to
OUTFLOW_ALERT_WEBHOOK_URL. Both sensors run by default when the Dagster daemon runs."""

from __future__ import annotations

import dagster as dg

from outflow.alerts import post_alert, sync_alerts


def failed_sync_checks(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str, str]]:
    """(asset, check, hint) for each check of a sync asset that did not pass in the run."""
    out = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data  # type: ignore[union-attr]
        if evaluation.passed or evaluation.asset_key.path[0] != "activations":
            continue
        hint = evaluation.metadata.get("list them")
        out.append((evaluation.asset_key.to_user_string(), evaluation.check_name, hint.value if hint else ""))
    return out


@dg.run_failure_sensor(name="outflow_run_failure_alert", default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    failed = [e.step_key or "" for e in context.get_step_failure_events()]
    syncs = [s.removeprefix("activations__") for s in failed if s.startswith("activations__")]
    text = sync_alerts(syncs, failed_sync_checks(context.instance, context.dagster_run.run_id))
    others = [s for s in failed if not s.startswith("activations__")]
    if others or text is None:
        text = (text + "; " if text else "Outflow: ") + (
            f"run {context.dagster_run.job_name} failed: {', '.join(others) or context.failure_event.message}"
        )
    post_alert(text)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="outflow_sync_check_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def sync_check_alert(context: dg.RunStatusSensorContext) -> None:
    text = sync_alerts([], failed_sync_checks(context.instance, context.dagster_run.run_id))
    if text:
        post_alert(text)


def build_defs() -> dg.Definitions:
    return dg.Definitions(sensors=[run_failure_alert, sync_check_alert])
