from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot

from activations.config import SyncConfig
from activations.diff import build_diff_sql
from activations.sandboxes.testing import sync_dict
from activations.state import ensure_schema
from outflow.warehouse import connect


def _cfg(**kw: object) -> SyncConfig:
    return SyncConfig.model_validate(sync_dict("http://127.0.0.1:1", **kw))


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "bigquery"])
def test_diff_sql_renders_for_each_dialect(dialect: str) -> None:
    sql = build_diff_sql(_cfg(), dialect=dialect)
    # parses back in its own dialect: the generated SQL is well-formed
    assert sqlglot.parse_one(sql, read=dialect) is not None
    assert "sync_state" in sql and "FULL OUTER JOIN" in sql.upper()


def _diff(con: duckdb.DuckDBPyConnection, cfg: SyncConfig) -> dict[str, set[str]]:
    rows = con.execute(build_diff_sql(cfg)).fetchall()
    out: dict[str, set[str]] = {}
    for key, op, *_ in rows:
        out.setdefault(op, set()).add(key)
    return out


def _ack_all(con: duckdb.DuckDBPyConnection, cfg: SyncConfig) -> None:
    con.execute(
        "INSERT INTO outflow.sync_state SELECT ?, _key, _hash, now(), 'r' "
        f"FROM ({build_diff_sql(cfg)}) WHERE _op = 'add'",
        [cfg.name],
    )


def test_diff_add_change_remove_invalid(con: duckdb.DuckDBPyConnection) -> None:
    ensure_schema(con)
    cfg = _cfg()
    first = _diff(con, cfg)
    assert len(first["add"]) == 500 and "change" not in first
    _ack_all(con, cfg)
    assert _diff(con, cfg) == {}
    con.execute("UPDATE main.sync_contacts SET first_name = 'x' WHERE person_id < 10")
    con.execute("UPDATE main.sync_contacts SET note = 'only an unmapped column' WHERE person_id >= 400")
    con.execute("DELETE FROM main.sync_contacts WHERE person_id BETWEEN 10 AND 14")
    con.execute("INSERT INTO main.sync_contacts VALUES (1000, 'new@example.com', 'n', 1, '')")
    con.execute("INSERT INTO main.sync_contacts VALUES (NULL, 'nokey@example.com', 'n', 1, '')")
    con.execute("INSERT INTO main.sync_contacts VALUES (20, 'dup@example.com', 'n', 1, '')")
    con.execute("UPDATE main.sync_contacts SET email = 'not an email' WHERE person_id = 30")
    d = _diff(con, cfg)
    assert d["change"] == {str(i) for i in range(10)}  # unmapped `note` changes are ignored
    assert d["remove"] == {str(i) for i in range(10, 15)}
    assert d["add"] == {"1000"}
    assert d["invalid"] == {None, "20", "30"}
    # duplicates and invalid rows are never reported as removed, even though they are in the state
    assert "20" not in d["remove"] and "30" not in d["remove"]


def test_mode_filters_operations(con: duckdb.DuckDBPyConnection) -> None:
    ensure_schema(con)
    cfg = _cfg(mode="upsert")
    _ack_all(con, cfg)
    con.execute("DELETE FROM main.sync_contacts WHERE person_id < 5")
    con.execute("UPDATE main.sync_contacts SET score = -1 WHERE person_id = 7")
    d = _diff(con, cfg)
    assert "remove" not in d and d["change"] == {"7"}


def test_diff_result_is_only_the_changes(tmp_path: Path) -> None:
    """The diff is one set-based query whose result holds only changed rows, not the audience."""
    con = connect(tmp_path / "big.duckdb")
    ensure_schema(con)
    from activations.sandboxes.testing import make_audience

    make_audience(con, rows=50_000)
    cfg = _cfg()
    _ack_all(con, cfg)
    con.execute("UPDATE main.sync_contacts SET score = score + 1000 WHERE person_id % 100 = 0")
    rows = con.execute(build_diff_sql(cfg)).fetchall()
    assert len(rows) == 500


def test_digest_columns_take_sha256_digests_instead_of_addresses(con: duckdb.DuckDBPyConnection) -> None:
    ensure_schema(con)
    cfg = _cfg()
    con.execute(f"UPDATE main.sync_contacts SET email = '{'ab12' * 16}' WHERE person_id = 1")  # 64 hex
    con.execute(f"UPDATE main.sync_contacts SET email = '{'zz' * 32}' WHERE person_id = 2")  # 64, not hex
    assert _diff(con, cfg)["invalid"] == {"1", "2"}
    rows = con.execute(build_diff_sql(cfg, digest_columns=["email"])).fetchall()
    assert {r[0]: r[3] for r in rows if r[1] == "invalid"} == {"2": "invalid_email:email"}
