"""`outflow demo` piped (as in CI or `make demo > log`): each stage is a line on stderr as it starts, in order,
the summary tables are plain tab-separated rows on stdout, and what it materialized is recorded in the Dagster
instance the UI reads (its models and each sync). The model's scores reach the marts, and each dbt model is built
once: what the scores feed waits for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OUTFLOW = str(Path(sys.executable).with_name("outflow"))
STAGES = ["generate + load", "dbt build", "lead scores", "segments", "journeys", "syncs", "summary"]


@pytest.mark.slow
def test_the_piped_demo_prints_a_line_per_stage(tmp_path: Path) -> None:
    env = {**os.environ, "OUTFLOW_WAREHOUSE": str(tmp_path / "outflow.duckdb"), "OUTFLOW_TARGET": "duckdb",
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "OUTFLOW_DAGSTER_HISTORY": "1"}  # fmt: skip
    env.pop("OUTFLOW_POSTGRES_URL", None)
    proc = subprocess.run([OUTFLOW, "demo", "--people", "300"], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stages = [line.removeprefix("demo: ") for line in proc.stderr.splitlines() if line.startswith("demo: ")]
    assert stages == STAGES, proc.stderr
    assert "\t" in proc.stdout and not any(ch in proc.stdout for ch in "│┃━╭╰"), proc.stdout
    import dagster as dg

    from activations.config import load_syncs

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["dim_profiles"]))
        assert event is not None and event.asset_materialization.metadata["by"].value == "outflow demo"
        synced = [c.name for c in load_syncs()
                  if instance.get_latest_materialization_event(dg.AssetKey(["activations", c.name]))]  # fmt: skip
        assert synced, "no sync of the demo was recorded"
        for model in ("dim_profiles", "fct_lead_scores", "seg_hot_leads"):
            built = instance.fetch_materializations(dg.AssetKey([model]), limit=5).records
            assert len(built) == 1, f"{model} was built {len(built)} times"
    from outflow.warehouse import connect

    with connect(tmp_path / "outflow.duckdb", read_only=True) as con:
        people, scored = con.execute("select count(*), count(predictive_score) from main.fct_lead_scores").fetchall()[0]
    assert people > 0 and scored == people, f"{scored} of {people} people have a predictive score in fct_lead_scores"
