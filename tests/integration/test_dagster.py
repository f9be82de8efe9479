"""Dagster wiring: the definitions load, their shape matches the snapshot, and the whole graph materializes."""

import json
import os
from pathlib import Path

import pytest

from outflow.warehouse import connect

SNAPSHOT = Path(__file__).parent / "snapshots" / "dagster_definitions.json"


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs

    return defs


def _shape(defs) -> dict:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    return {
        "assets": {
            key.to_user_string(): {
                "group": graph.get(key).group_name,
                "deps": sorted(p.to_user_string() for p in graph.get(key).parent_keys),
            }
            for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
            if graph.get(key).is_materializable
        },
        "schedules": {s.name: {"cron": s.cron_schedule, "job": s.job_name} for s in repo.schedule_defs},
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
    }


def test_definitions_load_with_groups_and_schedule(defs):
    shape = _shape(defs)
    assert shape["assets"]["dim_profiles"]["group"] == "marts"
    assert shape["assets"]["stg_crm__contacts"]["group"] == "staging"
    assert "raw/crm_contacts" in shape["assets"]["stg_crm__contacts"]["deps"]
    assert shape["schedules"]["outflow_daily_schedule"]["cron"] == "0 5 * * *"


def test_steps_sit_between_dbt_models_in_one_graph(defs):
    """The phone and identity steps are assets whose keys are the dbt sources they write."""
    assets = _shape(defs)["assets"]
    assert assets["outflow_identity/phones_e164"]["deps"] == ["stg_phones__distinct"]
    assert "outflow_identity/phones_e164" in assets["stg_phones__e164"]["deps"]
    assert assets["outflow_identity/person_map"]["deps"] == ["int_identity__edges", "int_identity__nodes"]
    assert "outflow_identity/person_map" in assets["int_identity__identifiers"]["deps"]


def test_every_dependency_is_an_asset_the_graph_builds(defs):
    """A sync or check that depends on a model Dagster does not build would run before it (stale manifest)."""
    graph = defs.get_repository_def().asset_graph
    dangling = {
        (key.to_user_string(), parent.to_user_string())
        for key in graph.get_all_asset_keys()
        for parent in graph.get(key).parent_keys
        if not graph.get(parent).is_materializable
    }
    assert not dangling


def test_definitions_match_snapshot(defs):
    """Catches accidental changes to asset keys, groups, dependencies and schedules.

    After a deliberate change: OUTFLOW_UPDATE_SNAPSHOTS=1 make test, and commit the snapshot.
    """
    shape = _shape(defs)
    if os.environ.get("OUTFLOW_UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(shape, indent=2, sort_keys=True) + "\n")
    assert shape == json.loads(SNAPSHOT.read_text())


def test_whole_graph_materializes_in_process(tmp_path, monkeypatch):
    from urllib.parse import urlsplit

    import yaml

    from activations.config import load_syncs, syncs_dir
    from activations.sandboxes import start_all
    from activations.sandboxes.testing import make_secret
    from orchestration.definitions import build_definitions

    warehouse = tmp_path / "dagster.duckdb"
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("OUTFLOW_DEMO", "1")  # the raw assets generate only in demo mode
    # every declared sync delivers to its sandbox: the same YAML, pointed at a sandbox on a free port
    sandboxes = start_all(token="t0ken", webhook_secret=make_secret())
    try:
        local = tmp_path / "syncs"
        local.mkdir()
        for path in sorted(syncs_dir().glob("*.yml")):
            doc = yaml.safe_load(path.read_text())
            dest = doc["destination"]
            if dest["type"] in sandboxes:
                url = urlsplit(dest["base_url"])
                netloc = urlsplit(sandboxes[dest["type"]].url).netloc
                dest["base_url"] = url._replace(netloc=netloc).geturl()
            elif dest["type"] == "file":
                dest["base_url"] = (tmp_path / "exports").as_uri()
            (local / path.name).write_text(yaml.safe_dump(doc))
        monkeypatch.setenv("OUTFLOW_SYNCS_DIR", str(local))
        syncs = load_syncs()
        for cfg in syncs:
            if cfg.destination.type in sandboxes:
                for name, value in sandboxes[cfg.destination.type].credentials(cfg).items():
                    monkeypatch.setenv(name, value)
        job = build_definitions().resolve_job_def("outflow_daily")
        result = job.execute_in_process(run_config={"ops": {"raw_tables": {"config": {"people": 300, "seed": 3}}}})
        webhook = sandboxes["webhook"]
        received = len(webhook.records("contacts")) + len(webhook.messages("events"))
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    expected = {
        "raw/crm_contacts",
        "stg_crm__contacts",
        "outflow_identity/phones_e164",
        "outflow_identity/person_map",
        "dim_profiles",
        "fct_events",
    }
    assert expected <= materialized
    assert {f"activations/{cfg.name}" for cfg in syncs} <= materialized
    assert received > 0
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)  # dbt tests ran as asset checks
    with connect(warehouse) as con:
        assert con.execute("select count(*) from main.dim_profiles").fetchall()[0][0] > 200


def test_every_dbt_op_takes_the_unit_tests_switch(defs):
    """The dbt ops leave dbt's unit tests out unless their run config says `unit_tests: true` (docs/performance.md)."""
    ops = defs.resolve_job_def("outflow_daily").run_config_schema.config_type.fields["ops"].config_type.fields
    dbt_ops = [name for name in ops if name.startswith("outflow_dbt_models")]
    assert len(dbt_ops) >= 2
    for name in dbt_ops:
        field = ops[name].config_type.fields["config"].config_type.fields["unit_tests"]
        assert not field.is_required and field.default_value is False
