"""The warehouse interface behaves the same on DuckDB and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest
import sqlglot

from outflow.warehouse import QueryError, Warehouse


def test_target_and_dialect(wh: Warehouse) -> None:
    assert wh.dialect == wh.target
    # sqlglot knows the dialect: portable SQL is rendered for it
    assert sqlglot.transpile("select cast(x as double) from t", read="duckdb", write=wh.dialect)


def test_execute_with_question_mark_params(wh: Warehouse) -> None:
    wh.execute("create table main.t (id integer, name varchar, note varchar)")
    wh.executemany("insert into main.t values (?, ?, ?)", [[1, "a", "x"], [2, "b", None], [3, "50%", "?"]])
    # `?` inside a literal and `%` anywhere are text, not placeholders
    rows = wh.execute(
        "select id, name, '?' as q, 'a%' as pct from main.t where id >= ? and name like '%' order by id", [2]
    ).fetchall()
    assert rows == [(2, "b", "?", "a%"), (3, "50%", "?", "a%")]
    assert wh.execute("select count(*) from main.t where note is null").fetchone() == (1,)
    with pytest.raises(QueryError, match="no_such_table"):
        wh.execute("select * from main.no_such_table")


def test_transaction_commits_and_rolls_back(wh: Warehouse) -> None:
    wh.execute("create table main.t (id integer)")
    with wh.transaction():
        wh.execute("insert into main.t values (?)", [1])
        with wh.transaction():  # a nested block joins the outer one
            wh.execute("insert into main.t values (?)", [2])
    with pytest.raises(RuntimeError), wh.transaction():
        wh.execute("insert into main.t values (?)", [3])
        raise RuntimeError("boom")
    assert wh.execute("select id from main.t order by id").fetchall() == [(1,), (2,)]
    other = wh.cursor()  # what one session commits another sees
    try:
        assert other.execute("select count(*) from main.t").fetchone() == (2,)
    finally:
        other.close()
    # a failed statement inside a transaction rolls the whole block back and leaves the session usable
    with pytest.raises(QueryError), wh.transaction():
        wh.execute("insert into main.t values (?)", [4])
        wh.execute("insert into main.nope values (1)")
    assert wh.execute("select max(id) from main.t").fetchone() == (2,)


def test_fetch_arrow_and_polars_keep_types(wh: Warehouse) -> None:
    wh.execute(
        "create table main.typed (i integer, b bigint, f double precision, d decimal(10, 2), s varchar, "
        "ok boolean, day date, ts timestamp)"
    )
    wh.execute(
        "insert into main.typed values (?, ?, ?, ?, ?, ?, ?, ?)",
        [1, 2**40, 1.5, Decimal("12.34"), "é", True, dt.date(2026, 1, 31), dt.datetime(2026, 1, 31, 12, 0, 1, 5)],
    )
    wh.execute("insert into main.typed values (null, null, null, null, null, null, null, null)")
    t = wh.fetch_arrow("select * from main.typed order by i nulls last")
    assert t.schema.field("i").type == pa.int32()
    assert t.schema.field("b").type == pa.int64()
    assert t.schema.field("f").type == pa.float64()
    assert t.schema.field("d").type == pa.decimal128(10, 2)
    assert t.schema.field("s").type == pa.string()
    assert t.schema.field("ok").type == pa.bool_()
    assert t.schema.field("day").type == pa.date32()
    assert t.schema.field("ts").type == pa.timestamp("us")
    assert t.to_pylist()[0] == {
        "i": 1,
        "b": 2**40,
        "f": 1.5,
        "d": Decimal("12.34"),
        "s": "é",
        "ok": True,
        "day": dt.date(2026, 1, 31),
        "ts": dt.datetime(2026, 1, 31, 12, 0, 1, 5),
    }
    assert t.to_pylist()[1] == dict.fromkeys(t.column_names)
    df = wh.fetch_polars("select i, s, ts from main.typed where i = ?", [1])
    assert df.schema == pl.Schema({"i": pl.Int32, "s": pl.String, "ts": pl.Datetime("us")})
    assert df.height == 1
    empty = wh.fetch_polars("select i, s from main.typed where i = ?", [99])
    assert empty.height == 0 and empty.columns == ["i", "s"]


def test_write_arrow_modes(wh: Warehouse) -> None:
    first = pl.DataFrame({"id": [1, 2], "name": ["a", None], "ts": [dt.datetime(2026, 1, 1), None]})
    assert wh.write_arrow("ml.things", first, mode="create") == 2  # the schema is created too
    with pytest.raises(QueryError):
        wh.write_arrow("ml.things", first, mode="create")
    # append matches columns by name, whatever their order
    third = first.head(1).select("name", "id", "ts").with_columns(id=pl.lit(3, pl.Int64))
    wh.write_arrow("ml.things", third, mode="append")
    assert wh.execute("select count(*), sum(id) from ml.things").fetchone() == (3, 6)
    wh.write_arrow("ml.things", pa.table({"id": [9], "extra": ["x"]}), mode="replace")
    assert wh.columns("ml", "things") == {"id": "bigint", "extra": wh.columns("ml", "things")["extra"]}
    assert wh.fetch_polars("select * from ml.things").to_dicts() == [{"id": 9, "extra": "x"}]
    wh.write_arrow("ml.fresh", pl.DataFrame({"v": [1.5]}), mode="append")  # append creates a missing table
    assert wh.execute("select v from ml.fresh").fetchall() == [(1.5,)]
    wh.write_arrow("ml.fresh", pl.DataFrame(schema={"v": pl.Float64}), mode="append")
    assert wh.execute("select count(*) from ml.fresh").fetchone() == (1,)


def test_fetch_arrow_batches_streams_every_row_and_always_gives_the_columns(wh: Warehouse) -> None:
    wh.write_arrow("ml.nums", pa.table({"n": list(range(5000)), "s": [str(i) for i in range(5000)]}), mode="create")
    batches = list(wh.fetch_arrow_batches("select n, s from ml.nums where n >= ? order by n", [10]))
    table = pa.Table.from_batches(batches)
    assert table.column("n").to_pylist() == list(range(10, 5000)) and table.column_names == ["n", "s"]
    (empty,) = wh.fetch_arrow_batches("select n, s from ml.nums where n < 0")
    assert empty.num_rows == 0 and empty.schema.names == ["n", "s"] and pa.types.is_string(empty.schema.field("s").type)


def test_write_arrow_batches_writes_a_stream_in_its_order_and_mode(wh: Warehouse) -> None:
    from outflow.warehouse import local_engine

    wh.write_arrow("ml.stream", pa.table({"n": [-1]}), mode="create")
    files = local_engine()  # what the loader does: rows streamed from its file engine, in one transaction
    try:
        rows = files.fetch_arrow_batches("select n, cast(n as varchar) as s from range(300000) as r(n) order by n")
        with wh.transaction():
            assert wh.write_arrow_batches("ml.stream", rows, mode="replace") == 300_000
    finally:
        files.close()
    back = wh.fetch_arrow("select n, s from ml.stream")  # replaced: the -1 is gone, the new column is there
    assert back.column("n").to_pylist() == list(range(300_000)) and back.column("s")[299_999].as_py() == "299999"
    batches = [pa.record_batch({"n": [7], "s": ["7"]}), pa.record_batch({"n": [8], "s": ["8"]})]
    assert wh.write_arrow_batches("ml.stream", iter(batches)) == 2  # append, the default
    assert wh.write_arrow_batches("tmp_stream", iter(batches), "replace", temporary=True) == 2
    assert wh.execute("select count(*), max(n) from ml.stream").fetchone() == (300_002, 299_999)
    assert wh.execute("select sum(n) from tmp_stream").fetchone() == (15,)


def test_bulk_write_of_200k_rows(wh: Warehouse) -> None:
    n = 200_000
    df = pl.DataFrame({"id": pl.int_range(0, n, eager=True)}).with_columns(
        email=pl.format("user{}@example.com", "id"),
        score=pl.col("id").cast(pl.Float64) / 4,
        tags=pl.concat_list(pl.format("t{}", pl.col("id") % 3)),
        seen=pl.lit(dt.datetime(2026, 1, 1)) + pl.duration(seconds=pl.col("id")),
    )
    assert wh.write_arrow("raw.big", df, mode="replace") == n
    assert wh.execute("select count(*), count(distinct email), sum(score), max(seen) from raw.big").fetchone() == (
        n,
        n,
        sum(range(n)) / 4,
        dt.datetime(2026, 1, 1) + dt.timedelta(seconds=n - 1),
    )
    back = wh.fetch_polars("select * from raw.big order by id")
    assert back.select("id", "email", "score", "seen").equals(df.select("id", "email", "score", "seen"))
    assert back["tags"].to_list()[:4] == [["t0"], ["t1"], ["t2"], ["t0"]]


def test_temp_tables_are_private_to_a_session(wh: Warehouse) -> None:
    wh.write_arrow("scratch", pl.DataFrame({"k": ["a", "b"]}), mode="create", temporary=True)
    assert wh.execute("select count(*) from scratch").fetchone() == (2,)
    wh.write_arrow("scratch", pl.DataFrame({"k": ["c"]}), mode="append", temporary=True)
    assert wh.execute("select count(*) from scratch").fetchone() == (3,)
    other = wh.cursor()
    try:
        with pytest.raises(QueryError):
            other.execute("select count(*) from scratch")
        other.write_arrow("scratch", pl.DataFrame({"k": ["z"]}), mode="create", temporary=True)
        assert other.execute("select k from scratch").fetchall() == [("z",)]
    finally:
        other.close()
    assert wh.execute("select count(*) from scratch").fetchone() == (3,)
    assert not wh.table_exists("main", "scratch")


def test_introspection(wh: Warehouse) -> None:
    assert not wh.table_exists("main", "people")
    assert wh.columns("main", "people") == {}
    wh.execute("create table main.people (person_id varchar, score double precision, born date)")
    wh.execute("create view main.people_v as select person_id from main.people")
    assert wh.table_exists("main", "people") and wh.table_exists("main", "people_v")
    cols = wh.columns("main", "people")
    assert list(cols) == ["person_id", "score", "born"]
    assert cols["born"] == "date" and cols["score"] in ("double", "double precision")
    assert wh.tables("main") == ["people", "people_v"]
    assert "password" not in wh.location and not wh.read_only


def test_bulk_write_round_trips_every_value_exactly(wh: Warehouse) -> None:
    """What write_arrow writes, fetch_arrow reads back the same: NULL apart from the empty string, text with
    quotes, tabs, newlines, backslashes and unicode, floats to the last bit (infinities and NaN too), booleans,
    decimals, dates, timestamps with and without time zone to the microsecond, dictionary-encoded text."""
    texts = ["", None, 'q"uote', "tab\there", "new\nline\r\n", "back\\slash", "\\.", "é ☃ 𝄞", "NULL", ","]
    n = len(texts)
    naive = [dt.datetime(2026, 1, 31, 12, 0, 1, i) for i in range(n - 1)] + [None]
    aware = [dt.datetime(2026, 1, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC) - dt.timedelta(days=i) for i in range(n)]
    data = pa.table(
        {
            "s": pa.array(texts, pa.string()),
            "cat": pa.array(["a", "b"] * (n // 2)).dictionary_encode(),
            "i": pa.array([*range(n - 1), None], pa.int64()),
            "f": pa.array([0.1, 1 / 3, -0.0, 1e300, 5e-324, float("inf"), float("-inf"), 2.5, None, 7.0]),
            "ok": pa.array([True, False, None] + [True] * (n - 3)),
            "d": pa.array([Decimal("-12.34"), None] + [Decimal("99999999.99")] * (n - 2), pa.decimal128(10, 2)),
            "day": pa.array([dt.date(1970, 1, 1), None] + [dt.date(2026, 2, 28)] * (n - 2), pa.date32()),
            "ts": pa.array(naive, pa.timestamp("us")),
            "tz": pa.array(aware, pa.timestamp("us", tz="UTC")),
        }
    )
    with wh.transaction():
        wh.write_arrow("raw.exact", data, mode="create")
    back = wh.fetch_arrow("select * from raw.exact order by i nulls last")
    expected, got = data.to_pylist(), back.to_pylist()
    for column in ("s", "cat", "i", "f", "ok", "d", "day", "ts", "tz"):
        assert [r[column] for r in got] == [r[column] for r in expected], column
    assert [str(r["f"]) for r in got] == [str(r["f"]) for r in expected]  # -0.0 stays negative
    infinite = wh.execute("select count(*) from raw.exact where f = ? or f = ?", [float("inf"), float("-inf")])
    assert infinite.fetchone() == (2,)
    wh.write_arrow("raw.exact", pa.table({"s": pa.array([], pa.string())}), mode="replace")  # an empty table
    assert wh.columns("raw", "exact") and wh.execute("select count(*) from raw.exact").fetchone() == (0,)


def test_a_bulk_write_in_a_transaction_rolls_back_with_it(wh: Warehouse) -> None:
    wh.write_arrow("raw.kept", pa.table({"n": [1, 2]}), mode="create")
    with pytest.raises(RuntimeError), wh.transaction():
        wh.write_arrow("raw.kept", pa.table({"n": list(range(3, 100_003))}), mode="append")
        wh.write_arrow("raw.gone", pa.table({"s": ["x"]}), mode="create")
        assert wh.execute("select count(*) from raw.kept").fetchone() == (100_002,)  # seen inside
        raise RuntimeError("stop")
    assert wh.execute("select count(*) from raw.kept").fetchone() == (2,)
    assert not wh.table_exists("raw", "gone")


def test_fetch_arrow_sees_the_sessions_uncommitted_rows_and_temp_tables(wh: Warehouse) -> None:
    wh.write_arrow("pending", pa.table({"k": ["a", "b"], "n": [1, None]}), mode="create", temporary=True)
    with wh.transaction():
        wh.write_arrow("raw.fresh", pa.table({"k": ["a"], "v": [0.5]}), mode="create")
        t = wh.fetch_arrow(
            "select p.k, p.n, f.k as k, f.v from pending p left join raw.fresh f on f.k = p.k "
            "where p.k <> ? order by p.k -- a comment at the end",
            ["zz"],
        )
    assert t.column_names == ["k", "n", "k", "v"]  # a repeated name stays
    rows = [list(r) for r in zip(*(c.to_pylist() for c in t.columns), strict=True)]
    assert rows == [["a", 1, "a", 0.5], ["b", None, None, None]]
    arrays = wh.fetch_arrow("select k, array_agg(n order by n) as ns from pending group by k order by k")
    assert arrays.column("ns").to_pylist() == [[1], [None]]  # arrays go through rows on PostgreSQL
