"""Every listing and report command is scriptable, on a copy of the built demo warehouse: piped, its tables are
plain tab-separated rows under a header (no box drawing, no row broken across lines), and with `--output json`
stdout is one JSON document of the tables it printed, each row keyed by the table's columns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from activations.privacy import ensure_privacy_schema
from outflow.warehouse import connect
from tests.unit.test_cli_empty_warehouse import run_cli


@pytest.fixture(scope="module")
def names(built_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("listing") / "outflow.duckdb"
    with connect(built_warehouse) as src:
        src.execute("checkpoint")
    shutil.copy(built_warehouse, path)
    with connect(path) as con:
        ensure_privacy_schema(con)  # the run log, empty: the sync listings read it
        audience, person = con.execute(
            "SELECT audience, min(person_id) FROM main.int_audience__activation GROUP BY 1 ORDER BY 1 LIMIT 1"
        ).fetchone()
    return {"warehouse": str(path), "audience": audience, "person": person}


LISTINGS = [
    ["sync", "list"], ["sync", "runs"], ["sync", "rejected"], ["sync", "rejected", "--invalid"], ["sync", "log"],
    ["segment", "list"], ["segment", "preview", "customers"], ["journey", "list"], ["journey", "status", "welcome"],
    ["journey", "history", "{person}"], ["model", "list"], ["identity"], ["audience", "export", "{audience}"],
    ["person", "explain", "{person}"]
]  # fmt: skip


def _run(argv: list[str], names: dict[str, str], monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", names["warehouse"])
    monkeypatch.setenv("OUTFLOW_TARGET", "duckdb")
    return run_cli([a.format(**names) for a in argv], monkeypatch, capsys)


@pytest.mark.parametrize("argv", LISTINGS, ids=[" ".join(a) for a in LISTINGS])
def test_piped_listing_is_tab_separated_and_json_parses(argv, names, monkeypatch, capsys) -> None:
    code, out, err = _run([*argv, "--output", "json"], names, monkeypatch, capsys)
    assert code == 0, out + err
    tables = json.loads(out)
    assert isinstance(tables, list) and tables, (out, err)
    for table in tables:
        assert all(list(row) == table["columns"] for row in table["rows"]), table
    code, out, err = _run(argv, names, monkeypatch, capsys)
    assert code == 0, out + err
    assert not any(ch in out for ch in "│┃━─╭╰"), out  # no box drawing when piped
    lines, at = out.splitlines(), 0
    for table in tables:  # the same tables piped: a header line, then one whole line per row
        header = "\t".join(table["columns"])
        assert header in lines[at:], (header, out)
        at = lines.index(header, at) + 1
        rows = lines[at : at + len(table["rows"])]
        assert len(rows) == len(table["rows"]), out
        assert all(r.count("\t") == len(table["columns"]) - 1 for r in rows), (table["columns"], rows)
        at += len(rows)
