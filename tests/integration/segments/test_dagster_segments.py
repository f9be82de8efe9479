"""The Dagster asset that records segment sizes, materialized in process against the built warehouse."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.segments import build_defs, segment_sizes
from orchestration.resources import WarehouseResource
from outflow.warehouse import connect


def test_segment_sizes_asset_records_sizes_as_metadata(demo_built: str) -> None:
    defs = dg.Definitions.merge(
        build_defs(), dg.Definitions(resources={"warehouse": WarehouseResource(path=demo_built)})
    )
    assert dg.AssetKey("segment_sizes") in defs.resolve_asset_graph().get_all_asset_keys()
    result = dg.materialize([segment_sizes], resources={"warehouse": WarehouseResource(path=demo_built)})
    assert result.success
    mats = result.asset_materializations_for_node("segment_sizes")
    meta = mats[0].metadata
    con = connect(demo_built)
    expected = con.execute("select count(*) from main.seg_hot_leads").fetchone()[0]
    groups = con.execute(
        "select measurement_group || '_' || audience, count(*) from main.audience_holdouts group by 1"
    ).fetchall()
    con.close()
    assert meta["seg_hot_leads"].value == expected
    assert groups and all(meta[k].value == n for k, n in groups)
    assert any(k.startswith("control_") for k, _ in groups) and any(k.startswith("holdout_") for k, _ in groups)
    assert any(k.startswith("sync_") for k in meta) and any(k.startswith("trg_") for k in meta)
