from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from activations.config import SyncConfig
from activations.diff import build_diff_sql
from activations.sandboxes.testing import sync_dict
from activations.state import ensure_schema
from outflow.warehouse import Warehouse


def _cfg(**kw: object) -> SyncConfig:
    return SyncConfig.model_validate(sync_dict("http://127.0.0.1:1", **kw))


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "bigquery"])
def test_diff_sql_renders_for_each_dialect(dialect: str) -> None:
    sql = build_diff_sql(_cfg(), dialect=dialect)
    # parses back in its own dialect: the generated SQL is well-formed
    assert sqlglot.parse_one(sql, read=dialect) is not None
    assert "sync_state" in sql and "FULL OUTER JOIN" in sql.upper()


@pytest.fixture
def con(any_con: Warehouse) -> Warehouse:
    """Every test below runs on DuckDB and on PostgreSQL."""
    return any_con


def _diff(con: Warehouse, cfg: SyncConfig) -> dict[str, set[str]]:
    rows = con.execute(build_diff_sql(cfg, dialect=con.dialect)).fetchall()
    out: dict[str, set[str]] = {}
    for key, op, *_ in rows:
        out.setdefault(op, set()).add(key)
    return out


def _ack_all(con: Warehouse, cfg: SyncConfig) -> None:
    con.execute(
        "INSERT INTO outflow_sync.sync_state SELECT ?, _key, _hash, now(), 'r' "
        f"FROM ({build_diff_sql(cfg, dialect=con.dialect)}) d WHERE _op = 'add'",
        [cfg.name],
    )


def test_diff_add_change_remove_invalid(con: Warehouse) -> None:
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


def test_mode_filters_operations(con: Warehouse) -> None:
    ensure_schema(con)
    cfg = _cfg(mode="upsert")
    _ack_all(con, cfg)
    con.execute("DELETE FROM main.sync_contacts WHERE person_id < 5")
    con.execute("UPDATE main.sync_contacts SET score = -1 WHERE person_id = 7")
    d = _diff(con, cfg)
    assert "remove" not in d and d["change"] == {"7"}


def test_diff_result_is_only_the_changes(con: Warehouse) -> None:
    """The diff is one set-based query whose result holds only changed rows, not the audience."""
    ensure_schema(con)
    from activations.sandboxes.testing import make_audience

    make_audience(con, rows=50_000)
    cfg = _cfg()
    _ack_all(con, cfg)
    con.execute("UPDATE main.sync_contacts SET score = score + 1000 WHERE person_id % 100 = 0")
    rows = con.execute(build_diff_sql(cfg, dialect=con.dialect)).fetchall()
    assert len(rows) == 500


def test_digest_columns_take_sha256_digests_instead_of_addresses(con: Warehouse) -> None:
    ensure_schema(con)
    cfg = _cfg()
    con.execute(f"UPDATE main.sync_contacts SET email = '{'ab12' * 16}' WHERE person_id = 1")  # 64 hex
    con.execute(f"UPDATE main.sync_contacts SET email = '{'zz' * 32}' WHERE person_id = 2")  # 64, not hex
    assert _diff(con, cfg)["invalid"] == {"1", "2"}
    rows = con.execute(build_diff_sql(cfg, dialect=con.dialect, digest_columns=["email"])).fetchall()
    assert {r[0]: r[3] for r in rows if r[1] == "invalid"} == {"2": "invalid_email:email"}


def test_row_hash_is_the_same_on_every_engine(con: Warehouse) -> None:
    """A portable BIGINT: the first 60 bits of the MD5 of the columns' text (U+001F between, U+001E for null)."""
    import hashlib

    ensure_schema(con)
    cfg = _cfg()
    con.execute("UPDATE main.sync_contacts SET first_name = NULL WHERE person_id = 3")
    got = {r[0]: r[2] for r in con.execute(build_diff_sql(cfg, dialect=con.dialect)).fetchall()}

    def expected(*parts: object) -> int:
        text = "\u001f".join("\u001e" if p is None else str(p) for p in parts)
        return int(hashlib.md5(text.encode()).hexdigest()[:15], 16)

    assert got["2"] == expected("user2@example.com", "name2", 14)
    assert got["3"] == expected("user3@example.com", None, 21)
    assert (con.columns("outflow_sync", "sync_state")["row_hash"]) == "bigint"


def test_state_hashed_by_duckdb_before_is_rehashed_without_resending(tmp_path: Path) -> None:
    """A DuckDB state written with DuckDB's own hash() (UBIGINT) is set aside and rehashed at the sync's next
    run: unchanged rows stay unchanged, rows changed since are still seen as changed."""
    from activations.diff import build_rehash_sql, legacy_hash_expr
    from activations.sandboxes.testing import make_audience
    from activations.state import LEGACY, rehash_legacy_state
    from outflow.warehouse import connect

    con = connect(tmp_path / "old.duckdb")
    make_audience(con, rows=100)
    cfg = _cfg()
    old = legacy_hash_expr(list(cfg.fields)).sql("duckdb")
    con.execute("CREATE SCHEMA outflow")
    con.execute(  # the old layout: schema outflow, before it became outflow_sync
        "CREATE TABLE outflow.sync_state (sync_name VARCHAR NOT NULL, key VARCHAR NOT NULL, row_hash UBIGINT NOT NULL,"
        " acked_at TIMESTAMP NOT NULL, run_id VARCHAR)"
    )
    con.execute(
        f"INSERT INTO outflow.sync_state SELECT ?, CAST(person_id AS VARCHAR), {old}, now()::TIMESTAMP, 'r' "
        "FROM main.sync_contacts",
        [cfg.name],
    )
    con.execute("UPDATE main.sync_contacts SET score = -1 WHERE person_id < 3")  # changed since the last run
    ensure_schema(con)
    assert con.columns("outflow_sync", "sync_state")["row_hash"] == "bigint"
    assert rehash_legacy_state(con, cfg.name, build_rehash_sql(cfg)) == 100
    assert _diff(con, cfg) == {"change": {"0", "1", "2"}}
    assert con.execute(f"SELECT count(*) FROM outflow_sync.{LEGACY}").fetchone() == (0,)
    con.close()
