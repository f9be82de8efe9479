"""Compare two builds of the dbt project table by table, with types normalised (the parity suite's engine).

Both sides are fetched as Arrow and turned into polars frames with one type per family:
- every integer width, signed or not, is Int64; every float and decimal is Float64;
- timestamps are naive microsecond UTC (a zoned timestamp is converted to UTC first); dates stay dates;
- strings are Utf8, lists keep their (normalised) item type.
Rows are sorted by every column (non-float columns first, floats rounded to 6 decimals as sort keys), then
compared cell by cell: floats within a relative tolerance of 1e-9 (sums of the same floats in another order
differ in the last bits), everything else exactly, nulls equal to nulls.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from outflow.build import DbtRun

#: columns that record when a build ran, not what it computed: left out of every comparison
RUN_STAMPS = {
    "int_identity__signature_persons": ["person_changed_at"],
    "int_identity__signatures": ["written_at"],
    "int_identity__signature_occurrences": ["written_at"],
    "int_identity__nodes": ["written_at"],
    "int_identity__identifiers": ["written_at"],
    "int_consent__events": ["written_at"],
    "int_consent__email_events": ["written_at"],
}
#: columns each engine hashes its own way (a raw row's fingerprint: DuckDB's hash(), elsewhere an md5), compared
#: only within one engine
ENGINE_HASHES = {"int_consent__events": ["fingerprint"]}
#: |a - b| <= FLOAT_TOLERANCE * max(1, |a|, |b|)
FLOAT_TOLERANCE = 1e-9
SORT_DECIMALS = 6


def _family(dtype: pl.DataType) -> pl.DataType:
    if dtype.is_integer():
        return pl.Int64
    if dtype.is_float() or dtype.is_decimal():
        return pl.Float64
    if isinstance(dtype, pl.Datetime):
        return pl.Datetime("us")
    if isinstance(dtype, pl.List):
        return pl.List(_family(dtype.inner))
    if dtype in (pl.Categorical, pl.Enum) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return pl.Utf8
    return dtype


def normalise(table: pa.Table) -> pl.DataFrame:
    """One polars type per family (see the module docstring)."""
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        exprs.append(col.cast(_family(dtype)).alias(name))
    return df.select(exprs)


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    keys: list[pl.Expr] = []
    floats: list[pl.Expr] = []
    for name, dtype in df.schema.items():
        if dtype == pl.Float64:
            floats.append(pl.col(name).round(SORT_DECIMALS))
        elif isinstance(dtype, pl.List):
            keys.append(pl.col(name).cast(pl.List(pl.Utf8)).list.join("\x1f"))
        else:
            keys.append(pl.col(name))
    order = keys + floats
    return df.sort(order, nulls_last=True) if order else df


@dataclass
class Difference:
    model: str
    problem: str

    def __str__(self) -> str:
        return f"{self.model}: {self.problem}"


def compare(model: str, left: pl.DataFrame, right: pl.DataFrame, names: tuple[str, str]) -> list[Difference]:
    """Every difference between two normalised frames of one model: columns, types, row count, cells."""
    a_name, b_name = names
    skipped = RUN_STAMPS.get(model, []) + ENGINE_HASHES.get(model, [])
    left, right = (df.drop(skipped, strict=False) for df in (left, right))
    out: list[Difference] = []
    missing = [c for c in left.columns if c not in right.columns]
    extra = [c for c in right.columns if c not in left.columns]
    if missing or extra:
        out.append(Difference(model, f"columns differ: only on {a_name}: {missing}, only on {b_name}: {extra}"))
    common = [c for c in left.columns if c in right.columns]
    mistyped = {c: (left.schema[c], right.schema[c]) for c in common if left.schema[c] != right.schema[c]}
    # an all-null column has no type of its own on one side: compare it by value only
    mistyped = {c: t for c, t in mistyped.items() if pl.Null not in t}
    if mistyped:
        shown = ", ".join(f"{c} ({a} vs {b})" for c, (a, b) in mistyped.items())
        out.append(Difference(model, f"column types differ ({a_name} vs {b_name}): {shown}"))
    if left.height != right.height:
        out.append(Difference(model, f"row count {a_name} {left.height} vs {b_name} {right.height}"))
    if out:
        return out
    same_type = [c for c in common if c not in mistyped]
    a = _sorted(left.select(same_type))
    b = _sorted(right.select(same_type))
    equal = {c: _equal(a[c], b[c]) for c in same_type}
    bad_columns = [c for c, eq in equal.items() if not eq.all()]
    if bad_columns:
        rows_equal = pl.Series([True] * a.height)
        for c in bad_columns:
            rows_equal = rows_equal & equal[c]
        first = int(rows_equal.arg_min())  # the first False
        out.append(
            Difference(
                model,
                f"{int((~rows_equal).sum())} of {a.height} rows differ in columns {bad_columns}; first differing row "
                f"(sorted): {a_name} {a.row(first, named=True)} vs {b_name} {b.row(first, named=True)}",
            )
        )
    return out


def _equal(x: pl.Series, y: pl.Series) -> pl.Series:
    """Cell by cell: floats within the tolerance, the rest exactly; null equals null."""
    if x.dtype != pl.Float64:
        return x.eq_missing(y)
    both = pl.DataFrame({"x": x, "y": y})
    tol = pl.max_horizontal(pl.lit(1.0), pl.col("x").abs(), pl.col("y").abs()) * FLOAT_TOLERANCE
    return both.select(
        pl.when(pl.col("x").is_null() | pl.col("y").is_null())
        .then(pl.col("x").is_null() & pl.col("y").is_null())
        .otherwise((pl.col("x") == pl.col("y")) | ((pl.col("x") - pl.col("y")).abs() <= tol))
    ).to_series()


# ------------------------------------------------------------------------------------------------ fetching
_NUMERIC = ("numeric", "decimal", "hugeint", "uhugeint")


def _select(schema: str, table: str, columns: dict[str, str]) -> str:
    """A select of every column; arbitrary-precision numbers as doubles (Arrow has no common type for them)."""
    cols = [
        f'cast("{c}" as double precision) as "{c}"' if t.lower().startswith(_NUMERIC) else f'"{c}"'
        for c, t in columns.items()
    ]
    return f'select {", ".join(cols)} from "{schema}"."{table}"'


def duckdb_relations(con, schema: str) -> dict[str, dict[str, str]]:
    """Tables and views of a schema in a DuckDB warehouse: name -> {column: type}."""
    rows = _duckdb_arrow(
        con,
        "select table_name, column_name, data_type from information_schema.columns "
        f"where table_schema = '{schema}' order by table_name, ordinal_position",
    ).to_pylist()
    return _group(rows)


def duckdb_table(con, schema: str, table: str, columns: dict[str, str]) -> pl.DataFrame:
    return normalise(_duckdb_arrow(con, _select(schema, table, columns)))


def _duckdb_arrow(con, sql: str) -> pa.Table:
    return con.fetch_arrow(sql)  # con: a session from outflow.warehouse.connect()


def postgres_relations(conn, schema: str) -> dict[str, dict[str, str]]:
    """Tables and views of a schema in PostgreSQL (an ADBC connection): name -> {column: type}."""
    with conn.cursor() as cur:
        cur.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            f"where table_schema = '{schema}' order by table_name, ordinal_position"
        )
        return _group(cur.fetch_arrow_table().to_pylist())


def postgres_table(conn, schema: str, table: str, columns: dict[str, str]) -> pl.DataFrame:
    with conn.cursor() as cur:
        cur.execute(_select(schema, table, columns))
        return normalise(cur.fetch_arrow_table())


def _group(rows: list[dict]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        out.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    return out


def node_kinds(run: DbtRun) -> dict[str, int]:
    """How many nodes of each kind (model, test, unit_test, seed, snapshot) a dbt run ran."""
    out: dict[str, int] = {}
    for r in run.results:
        kind = r["resource_type"].rsplit(".", 1)[-1].lower()
        out[kind] = out.get(kind, 0) + 1
    return out
