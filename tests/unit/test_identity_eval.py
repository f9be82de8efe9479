"""The evaluation's parts without a warehouse: truth files (and their one-line errors), pair counting, bridges,
and the hard-mode generator's tags."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import polars as pl
import pytest

from outflow.errors import OutflowError
from outflow.generate import generate
from outflow.generate_hard import HARD_TAGS
from outflow.identity_eval import _scores, bridges, read_truth


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "truth.csv"
    path.write_text(text)
    return path


def test_truth_csv_and_parquet_read_alike(tmp_path):
    csv = read_truth(_csv(tmp_path, "record_id,person,tag\ncrm:1, ann ,dup\nweb:2,ann,\n"))
    assert csv.to_dicts() == [
        {"record_id": "crm:1", "person": "ann", "tag": "dup", "identifiers": None},
        {"record_id": "web:2", "person": "ann", "tag": None, "identifiers": None},
    ]
    pq = tmp_path / "truth.parquet"
    pl.DataFrame({"record_id": ["crm:1"], "person": [7]}).write_parquet(pq)
    assert read_truth(pq).row(0) == ("crm:1", "7", None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("record_id,tag\ncrm:1,x\n", "no column 'person'"),
        ("record_id,person\ncrm:1,ann\ncrm:2,\n", "row 2, column person: empty"),
        ("record_id,person\ncrm:1,ann\ncrm:2,bob,extra\n", "row 2: 3 fields where the header has 2"),
        ("record_id,person\ncrm:1,ann\ncrm:1,bob\n", "row 2, column record_id: 'crm:1' appears twice (first on row 1)"),
        ("record_id,person\n1234,ann\n", "row 1, column record_id: '1234' is not a record id"),
        ("", "empty"),
    ],
)
def test_malformed_truth_is_one_line_naming_file_row_and_column(tmp_path, text, expected):
    path = _csv(tmp_path, text)
    with pytest.raises(OutflowError) as err:
        read_truth(path)
    message = str(err.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_unreadable_truth_files(tmp_path):
    bad = tmp_path / "t.parquet"
    bad.write_text("not parquet")
    for path, expected in ((bad, "not a readable Parquet file"), (tmp_path / "nope.csv", "no such truth file"),
                           (_csv(tmp_path, "x").with_suffix(".txt"), "is .csv or .parquet")):  # fmt: skip
        path.touch() if path.suffix == ".txt" else None
        with pytest.raises(OutflowError, match=expected):
            read_truth(path)


def test_pairs_per_group_count_pairs_touching_the_group():
    # truth: ann = r1 r2 r3, bob = r4; predicted: {r1 r2} {r3 r4}; ceiling: {r1 r2 r3} {r4}
    frame = pl.DataFrame(
        {"t": ["ann", "ann", "ann", "bob"], "p": ["x", "x", "y", "y"], "c": [1, 1, 1, 4], "g": [1, 0, 0, 1]}
    )
    s = _scores("all", frame)
    assert (s.true_pairs, s.predicted_pairs) == (3, 2)
    assert (s.precision, s.recall, s.ceiling_recall) == (0.5, 1 / 3, 1.0)
    assert s.of_ceiling == 1 / 3
    # pairs touching g=1 (r1, r4): r1-r2 r1-r3 true; r1-r2 and r3-r4 predicted
    g = _scores("g", frame, frame["g"] == 1)
    assert (g.records, g.true_pairs, g.predicted_pairs, g.precision, g.recall) == (2, 2, 2, 0.5, 0.5)


def test_bridges_are_identifiers_splitting_strong_parts():
    g = nx.Graph()
    for key in ("user_id:a", "email:a", "cookie:home", "user_id:b", "cookie:b1", "phone:1"):
        g.add_node(key, type=key.split(":")[0])
    g.add_edges_from([("user_id:a", "email:a"), ("email:a", "cookie:home"), ("cookie:home", "user_id:b"),
                      ("user_id:b", "cookie:b1"), ("user_id:b", "phone:1")])  # fmt: skip
    found = dict(bridges(g))
    # the household cookie splits a's part from b's; user_id:b only cuts off cookies and phones
    assert found["cookie:home"] == [3, 2]
    assert "user_id:b" not in found
    assert dict(bridges(g, ("phone",))) == {}


def test_hard_mode_tags_every_class_and_keeps_the_easy_records(tmp_path):
    easy = generate(300, 5, tmp_path / "easy")
    hard = generate(300, 5, tmp_path / "hard", hard=True)
    records = pl.read_parquet(tmp_path / "hard" / "truth" / "records" / "*.parquet")
    assert set(HARD_TAGS) <= set(records["tag"].unique())
    assert records["record_id"].is_unique().all()
    for table in ("crm_contacts", "orders", "web_events", "email_events"):
        e = pl.read_parquet(tmp_path / "easy" / "raw" / table / "*.parquet")
        h = pl.read_parquet(tmp_path / "hard" / "raw" / table / "*.parquet")
        assert not {"person_key", "truth_tag", "truth_identifiers"} & set(h.columns)
        assert hard.rows[table] >= easy.rows[table]
        if table in ("crm_contacts", "email_events"):  # ids that do not shift: every easy record is kept as is
            assert h.head(e.height).equals(e)
    # every raw record the identity graph reads has its true person
    easy_records = pl.read_parquet(tmp_path / "easy" / "truth" / "records" / "*.parquet")
    assert easy_records.height == sum(easy.rows[t] for t in ("crm_contacts", "web_events", "email_events", "orders",
                                                              "consent_events"))  # fmt: skip
    assert set(easy_records["tag"].unique()) <= {"base", "crm_duplicate", "household_login", "junk_email",
                                                 "role_email", "junk_phone"}  # fmt: skip


def test_the_cli_says_what_is_wrong_with_a_truth_file_in_one_line(tmp_path, monkeypatch, capsys):
    import sys

    from outflow import cli

    path = _csv(tmp_path, "record_id,person\ncrm:1,ann\ncrm:2,\n")
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(tmp_path / "none.duckdb"))
    monkeypatch.setattr(sys, "argv", ["outflow", "identity", "--truth", str(path)])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())
    assert exit_.value.code == 1
    assert f"error: {path}, row 2, column person: empty" in text and "Traceback" not in text
    assert not (tmp_path / "none.duckdb").exists()
