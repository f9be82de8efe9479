"""The Dagster `raw` assets generate synthetic data only in demo mode; a user's loaded rows are never replaced."""

import dagster as dg
import pytest
from typer.testing import CliRunner

from orchestration.defs.raw import build_defs
from orchestration.resources import WarehouseResource
from outflow.cli import app
from outflow.warehouse import connect

CONTACTS = (
    "contact_id,email,first_name,created_at,updated_at\n"
    "c1,ann@example.com,Ann,2026-01-02 10:00:00,2026-01-02 10:00:00\n"
    "c2,bob@example.com,Bob,2026-01-03 10:00:00,2026-01-03 10:00:00\n"
)


def _materialize(warehouse, config=None):
    assets = build_defs().assets
    return dg.materialize(
        assets,
        resources={"warehouse": WarehouseResource(path=str(warehouse))},
        run_config={"ops": {"raw_tables": {"config": config or {}}}},
        raise_on_error=False,
    )


def _contacts(warehouse):
    with connect(warehouse) as con:
        return con.execute("select contact_id, email from raw.crm_contacts order by contact_id").fetchall()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    monkeypatch.delenv("OUTFLOW_RAW_DIR", raising=False)
    monkeypatch.delenv("OUTFLOW_DEMO", raising=False)
    return tmp_path / "wh.duckdb"


def test_loaded_rows_survive_materializing_the_raw_assets(tmp_path, env):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "crm_contacts.csv").write_text(CONTACTS)
    loaded = CliRunner().invoke(app, ["load", str(folder), "--allow-empty", "consent_events,erasure_requests"])
    assert loaded.exit_code == 0, loaded.output
    before = _contacts(env)
    assert before == [("c1", "ann@example.com"), ("c2", "bob@example.com")]

    result = _materialize(env)
    assert result.success
    assert _contacts(env) == before  # nothing generated over the user's rows
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert meta["raw/crm_contacts"]["rows"].value == 2
    assert "outflow load" in meta["raw/crm_contacts"]["source"].value
    assert not (env.parent / "synthetic").exists()


def test_no_raw_tables_and_no_demo_mode_fails_with_one_line(env):
    result = _materialize(env)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "run `outflow load DIR` first" in failure.message and "OUTFLOW_DEMO=1" in failure.message
    assert "\n" not in failure.message.strip()
    assert not (env.parent / "synthetic").exists()


def test_demo_mode_generates(env, monkeypatch):
    monkeypatch.setenv("OUTFLOW_DEMO", "1")
    result = _materialize(env, {"people": 50, "seed": 1})
    assert result.success
    assert len(_contacts(env)) > 0
    assert (env.parent / "synthetic").exists()
