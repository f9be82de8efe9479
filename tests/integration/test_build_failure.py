"""A failed build still explains itself: outflow's one-line error names the failing node, dbt's own log
(dbt.log, at FILE_LOG_LEVEL) holds the node's error though dbt runs with no console logger, and run_results.json
holds the failed part's results, which `dbt retry` reads (the build's parts write no manifest.json, only their
results)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outflow import pipeline, settings
from outflow.build import dbt_log_file, run_dbt
from outflow.errors import OutflowError
from outflow.warehouse import connect


def test_a_failed_build_names_its_node_in_the_error_in_dbt_log_and_in_run_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    monkeypatch.setenv("DBT_LOG_PATH", str(logs))
    warehouse = tmp_path / "w.duckdb"
    pipeline.generate_and_load(200, 7, warehouse=warehouse, data_dir=tmp_path / "data")
    with connect(warehouse) as wh:  # the CRM's export lost a column the staging reads: the first part fails
        wh.execute("alter table raw.crm_contacts rename column email to email_address")
    results = settings.dbt_target_dir() / "run_results.json"
    results.unlink(missing_ok=True)

    with pytest.raises(OutflowError) as err:
        pipeline.build(warehouse=warehouse)
    message = str(err.value)
    assert message.startswith("dbt build ") and len(message.splitlines()) == 1, message
    assert 'Binder Error: Referenced column "email" not found' in message  # why, not only dbt's heading

    run = json.loads(results.read_text())  # this build's first part, the one that failed
    failed = {r["unique_id"].rsplit(".", 1)[-1] for r in run["results"] if r["status"] == "error"}
    assert failed and all(f"{name}: " in message for name in sorted(failed)[:3]), (failed, message)
    assert not any(r["unique_id"] == "model.outflow.fct_events" for r in run["results"])  # the last part never ran
    assert (settings.dbt_target_dir() / "manifest.json").is_file()  # the project's, written when it was loaded

    assert dbt_log_file() == logs / "dbt.log"
    log = dbt_log_file().read_text()
    errors = [line for line in log.splitlines() if "[error]" in line]
    assert all(any(name in line for line in errors) for name in failed), log[-3000:]
    assert "email" in log  # the reason, DuckDB's own error, is in the log beside the node's line
    assert "\x1b[" not in log  # no colour codes in the file
    assert "[debug]" not in log and "[info ]" not in log  # warnings and errors, not dbt's every event

    # the export fixed, `dbt retry` builds what failed or was skipped, and writes its own results (it runs with
    # the arguments the failed part recorded: the part's --no-write-json must not be among them)
    with connect(warehouse) as wh:
        wh.execute("alter table raw.crm_contacts rename column email_address to email")
    retried = run_dbt(["retry"], warehouse=warehouse)
    assert retried.results and all(r["status"] in ("success", "pass") for r in retried.results), retried.results
    again = json.loads(results.read_text())  # the retry's results, no longer the failed part's
    assert again["args"].get("write_json") is not False
    assert not [r for r in again["results"] if r["status"] == "error"]
    assert {r["unique_id"].rsplit(".", 1)[-1] for r in again["results"]} >= failed
