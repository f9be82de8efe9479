"""Load raw CSV or Parquet files into the warehouse, validated against the raw data contract.

Layout accepted for each table: `DIR/<table>.csv`, `DIR/<table>.parquet`, or a folder `DIR/<table>/`
of such files. A generated folder (`DIR/raw/` + `DIR/truth/`) loads its ground truth into schema `truth` too.

A file that lacks a required column, or holds a value of the wrong type or a null in a required column, is
refused with one line naming the file, the column and the row. With `quarantine=True` the bad rows are set
aside in `raw.rejected_rows` with their reason and the good rows load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from outflow.contract import TABLES, Table
from outflow.errors import OutflowError

log = logging.getLogger(__name__)

SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}
SUFFIXES = (".parquet", ".csv")


@dataclass
class LoadResult:
    rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    truth_loaded: bool = False


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _files_for(directory: Path, table: str) -> list[Path]:
    folder = directory / table
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES)
        if not files:
            raise OutflowError(f"{folder}: folder has no .csv or .parquet files")
        if len({p.suffix for p in files}) > 1:
            raise OutflowError(f"{folder}: mixes .csv and .parquet files; use one format per table")
        return files
    return [directory / f"{table}{s}" for s in SUFFIXES if (directory / f"{table}{s}").is_file()]


def _reader(path: Path) -> str:
    if path.suffix == ".csv":
        return f"read_csv({_lit(str(path))}, all_varchar = true, header = true)"
    return f"read_parquet({_lit(str(path))})"


def _validate_file(con: duckdb.DuckDBPyConnection, table: Table, path: Path, quarantine: bool) -> str:
    """Return a SELECT that yields the file's good rows in contract types; refuse or set aside bad ones."""
    try:
        present = {r[0]: r[1] for r in con.execute(f"describe select * from {_reader(path)}").fetchall()}
    except duckdb.Error as exc:
        raise OutflowError(f"{path}: cannot be read as {path.suffix[1:]}: {str(exc).splitlines()[0]}") from None
    missing = [c.name for c in table.columns if c.required and c.name not in present]
    if missing:
        raise OutflowError(
            f"{path}: missing required column '{missing[0]}' (table {table.name}; see README, Raw data contract)"
        )
    extra = sorted(set(present) - set(table.column_names))
    if extra:
        log.warning("%s: ignoring columns not in the contract: %s", path, ", ".join(extra))
    select, problems = [], []
    for col in table.columns:
        target = SQL_TYPES[col.type]
        if col.name not in present:
            select.append(f"cast(null as {target}) as {_q(col.name)}")
            continue
        src = _q(col.name)
        value = src if present[col.name].startswith(target) else f"try_cast({src} as {target})"
        if present[col.name] == "VARCHAR" and target != "VARCHAR":
            value = f"try_cast(nullif(trim({src}), '') as {target})"
            problems.append(
                f"when nullif(trim({src}), '') is not null and {value} is null "
                f"then 'column {col.name}: ' || {src} || ' is not a valid {col.type}'"
            )
        if col.required:
            problems.append(f"when {value} is null then 'column {col.name}: required value is missing'")
        if col.accepted:
            allowed = ", ".join(_lit(a) for a in col.accepted)
            problems.append(
                f"when {value} is not null and {value} not in ({allowed}) "
                f"then 'column {col.name}: ' || {value} || ' is not one of {'/'.join(col.accepted)}'"
            )
        select.append(f"{value} as {_q(col.name)}")
    reason = f"case {' '.join(problems)} end" if problems else "null"
    # the first line of a CSV is its header, so data row k is line k + 1
    offset = 1 if path.suffix == ".csv" else 0
    staged = (
        f"select {', '.join(select)}, {reason} as _reason, row_number() over () + {offset} as _row from {_reader(path)}"
    )
    con.execute(f"create or replace temp table _staged as {staged}")
    bad = next(
        iter(
            con.execute("select _row, _reason from _staged where _reason is not null order by _row limit 1").fetchall()
        ),
        None,
    )
    if bad and not quarantine:
        count = con.execute("select count(*) from _staged where _reason is not null").fetchall()[0][0]
        more = f" ({count - 1} more bad rows; rerun with --quarantine to set them aside)" if count > 1 else ""
        raise OutflowError(f"{path}: row {bad[0]}: {bad[1]}{more}")
    return ", ".join(_q(c) for c in table.column_names)


def load_directory(con: duckdb.DuckDBPyConnection, directory: Path, quarantine: bool = False) -> LoadResult:
    """Load every contract table found in `directory` into schema `raw` (replacing what was there)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise OutflowError(f"{directory}: no such folder")
    raw_dir = directory / "raw" if (directory / "raw").is_dir() else directory
    result = LoadResult()
    con.execute("create schema if not exists raw")
    con.execute(
        "create table if not exists raw.rejected_rows (table_name varchar, file varchar, row_number bigint, "
        "reason varchar, loaded_at timestamp)"
    )
    for table in TABLES.values():
        files = _files_for(raw_dir, table.name)
        cols = ", ".join(f"{_q(c.name)} {SQL_TYPES[c.type]}" for c in table.columns)
        con.execute(f"create or replace table raw.{table.name} ({cols})")
        if not files:
            result.missing_tables.append(table.name)
            log.warning("%s: no file for table %s; it is loaded empty", raw_dir, table.name)
            continue
        con.execute("delete from raw.rejected_rows where table_name = ?", [table.name])
        for path in files:
            names = _validate_file(con, table, path, quarantine)
            con.execute(f"insert into raw.{table.name} select {names} from _staged where _reason is null")
            con.execute(
                "insert into raw.rejected_rows "
                "select ?, ?, _row, _reason, now() from _staged where _reason is not null",
                [table.name, str(path)],
            )
        result.rows[table.name] = con.execute(f"select count(*) from raw.{table.name}").fetchall()[0][0]
        result.rejected[table.name] = con.execute(
            "select count(*) from raw.rejected_rows where table_name = ?", [table.name]
        ).fetchall()[0][0]
    con.execute("drop table if exists _staged")
    truth_dir = directory / "truth"
    if truth_dir.is_dir():
        con.execute("create schema if not exists truth")
        for sub in sorted(p for p in truth_dir.iterdir() if p.is_dir()):
            con.execute(
                f"create or replace table truth.{sub.name} as "
                f"select * from read_parquet({_lit(str(sub / '*.parquet'))})"
            )
        result.truth_loaded = True
    as_of = directory / "AS_OF"
    con.execute("create or replace table raw.dataset_info (as_of date)")
    if as_of.is_file():
        con.execute("insert into raw.dataset_info values (?)", [as_of.read_text().strip()])
    return result


def dataset_as_of(con: duckdb.DuckDBPyConnection) -> str | None:
    """The as-of date of a generated dataset, if the loaded data came from the generator."""
    try:
        row = con.execute("select max(as_of) from raw.dataset_info").fetchall()[0]
    except duckdb.Error:
        return None
    return row[0].isoformat() if row and row[0] else None
