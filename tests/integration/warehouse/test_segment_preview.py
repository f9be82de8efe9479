"""A segment preview runs on either target: the compiled SQL is rendered for the warehouse's dialect."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from outflow.segments.preview import preview_segment
from outflow.warehouse import Warehouse
from tests.unit.segments_compiler.conftest import NOW, fill_fixture, seg


def test_preview_on_each_target(wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill_fixture(wh)
    wh.execute("create table main.erased_persons (person_id varchar)")
    wh.execute("insert into main.erased_persons values ('p4')")
    (tmp_path / "segments").mkdir()
    for s in (
        seg("customers", [{"field": "order_count", "op": ">=", "value": 1}]),
        seg("german", [{"field": "country", "op": "=", "value": "DE"}]),
        seg("german_prospects", [{"in_segment": "german"}, {"not_in_segment": "customers"}]),
    ):
        (tmp_path / "segments" / f"{s['name']}.yml").write_text(yaml.safe_dump(s))
    if wh.target == "postgres":  # the settings name the warehouse, as a user would
        monkeypatch.setenv("OUTFLOW_TARGET", "postgres")
        monkeypatch.setenv("OUTFLOW_POSTGRES_URL", wh.location)
        result = preview_segment("german", tmp_path, as_of=NOW)
    else:
        result = preview_segment("german", tmp_path, Path(wh.location), as_of=NOW)
    assert result.size == 2  # p3 and p4; p4 asked to be erased: counted, never shown
    assert result.sample_columns[0] == "person_id" and [r[0] for r in result.sample_rows] == ["p3"]
    assert dict((o, (n, both)) for o, n, both in result.overlaps) == {"customers": (2, 1), "german_prospects": (1, 1)}
