"""Load raw CSV or Parquet files into the warehouse, validated against the raw data contract: all or nothing.

Layout accepted for each table: `DIR/<table>.csv`, `DIR/<table>.parquet`, or a folder `DIR/<table>/`
of such files. A generated folder (`DIR/raw/` + `DIR/truth/`) loads its ground truth into schema `truth` too.

A load runs in two phases:

1. **Validate.** Every file of every table is read in full by a local file engine (an in-memory DuckDB,
   apart from the warehouse) and checked against the contract: required columns, types, accepted values,
   nulls, and the CSV itself (UTF-8, the same number of fields on every line, closed quotes). Every row is
   read, not a sample. A refusal is one line naming the file, the line and the column, never a value from
   the row. With `quarantine=True` bad rows are set aside (`raw.rejected_rows`: file, line, reason; no row
   content) and the good rows load.
   Phase 1 keeps only each row's number and reason, so it needs little memory whatever the files hold.
2. **Swap.** Only when every table passed, the good rows are read again as Arrow and written through the
   warehouse interface (`write_arrow`: an Arrow scan on DuckDB, COPY on PostgreSQL) in one transaction: every
   table is replaced, or, if anything fails, none is. Raw tables are emptied and refilled, not dropped, so the
   views dbt builds on them (PostgreSQL refuses to drop a table a view reads) stay in place.

Timestamps are read in ISO 8601 (with or without a time, `T` or a space, fractions, a `Z` or an offset),
compact ISO (`19970101`, `19970101T101500`), and, only when `date_order` says which (`dmy` or `mdy`; the
`--date-order` option or OUTFLOW_DATE_ORDER), day-first or month-first dates (`31/12/1997`, `12/31/1997 10:15`).
A value with an offset is converted to UTC, from CSV and from Parquet alike; one without is taken as UTC.
Values of a column with a fixed list (`completed`, `granted`...) are matched whatever their case and stored as the
contract spells them. A file in the folder whose name matches no table refuses the load, naming the nearest table.

Tables that gate sending (consent, erasure) must come with rows unless `allow_empty` names them. The erasure
table is a ledger that only grows: a load adds requests whose `request_id` is new and keeps recorded ones as
they are, even when the file no longer holds them or holds them changed.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from outflow.contract import ERASED_IDENTIFIER_PREFIX, GATING_TABLES, TABLES, Table
from outflow.errors import OutflowError, did_you_mean
from outflow.warehouse import QueryError, Warehouse, local_engine, table_exists

log = logging.getLogger(__name__)

# contract type -> (type in the local file engine, portable type of the warehouse column)
TYPES = {
    "string": ("VARCHAR", "varchar"),
    "integer": ("BIGINT", "bigint"),
    "double": ("DOUBLE", "double precision"),
    "boolean": ("BOOLEAN", "boolean"),
    "timestamp": ("TIMESTAMP", "timestamp"),
}
SUFFIXES = (".parquet", ".csv")
# CSV is read as RFC 4180 (comma, double quotes), UTF-8, with a header row: nothing is guessed from a sample
CSV_OPTIONS = (
    "delim = ',', quote = '\"', escape = '\"', header = true, all_varchar = true, comment = '', skip = 0, "
    "store_rejects = true, rejects_scan = '_load_reject_scans', rejects_table = '_load_rejects'"
)
CSV_REJECTS = {
    "INVALID ENCODING": "not valid UTF-8; save the file as UTF-8",
    "MISSING COLUMNS": "the line has fewer fields than the header",
    "TOO MANY COLUMNS": "the line has more fields than the header",
    "UNQUOTED VALUE": "a quote is not closed, or text follows a closing quote",
    "LINE SIZE OVER MAXIMUM": "the line is longer than the CSV reader's maximum line size",
}
#: Timestamp formats read besides ISO 8601 (which a cast reads, offsets included): compact ISO always, day-first
#: or month-first only when the user says which (an ambiguous date like 01/02/2026 is never guessed).
COMPACT_FORMATS = ("%Y%m%d", "%Y%m%dT%H%M%S", "%Y%m%dT%H%M%SZ", "%Y%m%d%H%M%S", "%Y%m%dT%H%M")
_TIMES = ("", " %H:%M:%S", " %H:%M", "T%H:%M:%S", " %I:%M:%S %p", " %I:%M %p")
DATE_ORDERS = {
    "dmy": tuple(f"{d}{t}" for d in ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y") for t in _TIMES),
    "mdy": tuple(f"{d}{t}" for d in ("%m/%d/%Y", "%m-%d-%Y") for t in _TIMES),
}
SOURCE = "_outflow_load_source"  # the warehouse session's temp table holding a ledger file's rows while they merge


@dataclass
class LoadResult:
    rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    truth_loaded: bool = False
    erasures_added: int = 0  # new requests this load added to the erasure ledger
    erasures_kept: int = 0  # requests already in the ledger that the file holds with other values (kept as recorded)
    as_of: str | None = None  # the dataset's date from the folder's AS_OF file (YYYY-MM-DD), if it has one
    warnings: list[str] = field(default_factory=list)  # said once, by the caller (the CLI prints them)


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


def _where(path: Path, number: int) -> str:
    return f"line {number}" if path.suffix == ".csv" else f"row {number}"


@contextmanager
def _file_engine() -> Iterator[Warehouse]:
    """An in-memory DuckDB that reads and validates the files; it spills to a temporary folder, never the warehouse."""
    with tempfile.TemporaryDirectory(prefix="outflow-load-") as spill:
        local = local_engine(spill)
        local.execute("set TimeZone = 'UTC'")  # timestamps with an offset are converted to UTC, from any file
        try:
            yield local
        finally:
            local.close()


def _unreadable(path: Path) -> OutflowError:
    # the reader's message can quote a line of the file: say what the file must be, not what it holds
    expected = "a UTF-8, comma-separated file with a header row" if path.suffix == ".csv" else "a Parquet file"
    return OutflowError(f"{path}: cannot be read; expected {expected}")


def check_date_order(date_order: str | None) -> str | None:
    """``dmy``, ``mdy`` or None (only ISO and compact ISO dates); OUTFLOW_DATE_ORDER when not given."""
    import os

    value = (date_order or os.environ.get("OUTFLOW_DATE_ORDER", "")).strip().lower() or None
    if value is not None and value not in DATE_ORDERS:
        raise OutflowError(f"date order {value!r}: use dmy (31/12/1997) or mdy (12/31/1997) (--date-order)")
    return value


def _timestamp(value: str, date_order: str | None) -> str:
    """A text value as a UTC timestamp: ISO 8601 (an offset converted to UTC), compact ISO, dmy/mdy if set."""
    formats = COMPACT_FORMATS + (DATE_ORDERS[date_order] if date_order else ())
    listed = ", ".join(_lit(f) for f in formats)
    return f"coalesce(cast(try_cast({value} as timestamptz) as timestamp), try_strptime({value}, [{listed}]))"


def _typed(table: Table, present: dict[str, str], date_order: str | None = None) -> tuple[list[str], str]:
    """The contract's columns typed from the file's columns, and a CASE giving a bad row's reason (no values)."""
    select, problems = [], []
    for col in table.columns:
        target = TYPES[col.type][0]
        if col.name not in present:
            select.append(f"cast(null as {target}) as {_q(col.name)}")
            continue
        src = _q(col.name)
        value = src
        if present[col.name] == "VARCHAR" and target == "TIMESTAMP":
            text = f"nullif(trim({src}), '')"
            value = _timestamp(text, date_order)
            problems.append(f"when {text} is not null and {value} is null then '{col.name}: not a valid timestamp'")
        elif present[col.name] == "VARCHAR" and target != "VARCHAR":
            value = f"try_cast(nullif(trim({src}), '') as {target})"
            problems.append(
                f"when nullif(trim({src}), '') is not null and {value} is null "
                f"then '{col.name}: not a valid {col.type}'"
            )
        elif target == "TIMESTAMP" and present[col.name] != "TIMESTAMP":
            # a Parquet timestamp with a time zone (or another unit, or a date): UTC, as the engine runs in UTC
            value = f"try_cast({src} as TIMESTAMP)"
            problems.append(f"when {src} is not null and {value} is null then '{col.name}: not a valid {col.type}'")
        elif not present[col.name].startswith(target):
            value = f"try_cast({src} as {target})"
            problems.append(f"when {src} is not null and {value} is null then '{col.name}: not a valid {col.type}'")
        if col.required:
            problems.append(f"when {value} is null then '{col.name}: required value is missing'")
        if col.accepted:
            # matched whatever the case or surrounding spaces, stored as the contract spells it
            folded = f"lower(trim({value}))"
            allowed = ", ".join(_lit(a.lower()) for a in col.accepted)
            problems.append(
                f"when {value} is not null and {folded} not in ({allowed}) "
                f"then '{col.name}: value is not one of {'/'.join(col.accepted)}'"
            )
            value = f"case {folded} {' '.join(f'when {_lit(a.lower())} then {_lit(a)}' for a in col.accepted)} end"
        select.append(f"{value} as {_q(col.name)}")
    reason = f"'column ' || (case {' '.join(problems)} end)" if problems else "cast(null as varchar)"
    return select, reason


@dataclass
class _Checked:
    """A file that passed validation: how to read its good rows again, and how many there are."""

    path: Path
    source: str
    select: list[str]
    reason: str
    good: int


def _source(path: Path) -> tuple[str, str]:
    """The file engine's reader for a file, and the expression numbering its rows as the user sees them."""
    if path.suffix == ".csv":
        return f"read_csv({_lit(str(path))}, {CSV_OPTIONS})", "row_number() over () + 1"  # the header is line 1
    return f"read_parquet({_lit(str(path))}, file_row_number = true)", "file_row_number + 1"


def _read(local: Warehouse, path: Path, sql: str):
    """Run a query that reads a file (CSV refusals go to `_load_rejects`); an unreadable file is one line."""
    _forget_rejects(local, path)
    try:
        return local.execute(sql)
    except QueryError:
        raise _unreadable(path) from None


def _forget_rejects(local: Warehouse, path: Path) -> None:
    if path.suffix == ".csv":
        local.execute("drop table if exists _load_rejects")
        local.execute("drop table if exists _load_reject_scans")


def _check_file(
    local: Warehouse, table: Table, path: Path, quarantine: bool, date_order: str | None = None
) -> _Checked:
    """Read one file in full and validate every row against the contract. Bad rows (file, line, reason; no
    content) go to the file engine's `r_<table>`; without `quarantine` the first one refuses the load.
    CSV lines the parser refuses (encoding, field count, quotes) are bad rows too."""
    source, line = _source(path)
    present = {r[0]: r[1] for r in _read(local, path, f"describe select * from {source}").fetchall()}
    present.pop("file_row_number", None)
    missing = [c.name for c in table.columns if c.required and c.name not in present]
    if missing:
        raise OutflowError(
            f"{path}: missing required column '{missing[0]}' (table {table.name}; see README, Raw data contract)"
        )
    extra = sorted(set(present) - set(table.column_names))
    if extra:
        log.warning("%s: ignoring columns not in the contract: %s", path, ", ".join(extra))
    select, reason = _typed(table, present, date_order)
    # only each row's number and reason are kept: a few bytes a row, whatever the file holds
    checked = f"create or replace temp table _checked as select {line} as _line, {reason} as _reason from {source}"
    _read(local, path, checked)
    if path.suffix == ".csv":
        refused = local.execute(
            "select line, min(column_name), min(cast(error_type as varchar)) from _load_rejects "
            "group by line order by line"
        ).fetchall()
        if refused:
            # rows were numbered as if no line was refused: good row k (line k + 1) lies after the i-th refused
            # line r_i when fewer than k good rows precede r_i, that is when r_i - i - 1 < k
            local.execute(
                "create or replace temp table _refused as "
                "select line, row_number() over (order by line) as i from (select distinct line from _load_rejects)"
            )
            local.execute(
                "update _checked set _line = _line + (select count(*) from _refused "
                "where _refused.line - _refused.i - 1 < _checked._line - 1)"
            )
            why = {kind: CSV_REJECTS.get(kind, "the line cannot be parsed as CSV") for _, _, kind in refused}
            local.executemany(
                "insert into _checked values (?, ?)", [[n, f"column {col}: {why[kind]}"] for n, col, kind in refused]
            )
    total, bad = local.execute("select count(*), count(_reason) from _checked").fetchall()[0]
    if bad and not quarantine:
        first = local.execute("select _line, _reason from _checked where _reason is not null order by _line limit 1")
        number, why = first.fetchall()[0]
        if why.endswith("not a valid timestamp") and not date_order:
            why += " (for day-first or month-first dates, pass --date-order dmy or mdy)"
        _refuse(path, number, why, bad - 1)
    local.execute(
        f"insert into r_{table.name} select ?, _line, _reason from _checked where _reason is not null", [str(path)]
    )
    return _Checked(path, source, select, reason, total - bad)


def _refuse(path: Path, number: int, reason: str, more: int) -> None:
    extra = f" ({more} more bad rows; rerun with --quarantine to set them aside)" if more else ""
    raise OutflowError(f"{path}: {_where(path, number)}, {reason}{extra}")


def _gate_message(table: Table, raw_dir: Path, files: list[Path]) -> str:
    what = f"{files[0]}: no rows" if files else f"{raw_dir}: no file"
    return (
        f"{what} for {table.name}, which decides who may be sent anything; add its rows, or, if this source has "
        f"none, declare it with --allow-empty {table.name}"
    )


def _check_allow_empty(allow_empty: Iterable[str]) -> set[str]:
    allowed = {name.strip() for name in allow_empty if name.strip()}
    unknown = sorted(allowed - set(TABLES))
    if unknown:
        raise OutflowError(
            f"--allow-empty: '{unknown[0]}' is not a raw table; tables that gate sending: {', '.join(GATING_TABLES)}"
        )
    return allowed


def load_directory(
    wh: Warehouse,
    directory: Path,
    quarantine: bool = False,
    allow_empty: Iterable[str] = (),
    date_order: str | None = None,
) -> LoadResult:
    """Load every contract table found in `directory` into schema `raw`, all or nothing.

    Every file is validated in full before the warehouse is touched; then every table is replaced (the erasure
    ledger only grows) in one transaction on `wh`, a session from `outflow.warehouse.connect()` (DuckDB or
    PostgreSQL: the same SQL and the same guarantees on both).
    `allow_empty` names tables that gate sending (`consent_events`, `erasure_requests`) which this source
    has no rows for; without it a missing or empty file for them is refused. `date_order` (dmy, mdy; default
    OUTFLOW_DATE_ORDER) reads day-first or month-first dates."""
    directory = Path(directory)
    date_order = check_date_order(date_order)
    if not directory.is_dir():
        raise OutflowError(f"{directory}: no such folder")
    allowed = _check_allow_empty(allow_empty)
    raw_dir = directory / "raw" if (directory / "raw").is_dir() else directory
    result = LoadResult()
    try:
        with _file_engine() as local:
            _refuse_unmatched(raw_dir)
            checked = _validate(local, raw_dir, quarantine, allowed, result, date_order)
            truth_dir = directory / "truth"
            truth = sorted(p for p in truth_dir.iterdir() if p.is_dir()) if truth_dir.is_dir() else []
            result.as_of = _read_as_of(directory / "AS_OF")
            _swap(wh, local, checked, result, truth, result.as_of)
    except OutflowError as exc:
        raise OutflowError(f"{exc}; nothing was loaded, every raw table is as it was") from None
    except QueryError as exc:
        raise OutflowError(
            f"the load failed and was rolled back, every raw table is as it was: {str(exc).splitlines()[0]}"
        ) from None
    result.truth_loaded = (directory / "truth").is_dir()
    if result.erasures_kept:  # said by the caller from the result (the CLI prints it), once
        log.info("erasure_requests: %d requests kept as first recorded", result.erasures_kept)
    for table in TABLES.values():
        if table.name == "consent_events" and not result.rows.get(table.name):
            result.warnings.append(
                f"{table.name} is empty: no one has consent, so every marketing audience (and every sync that "
                "checks consent) is empty; load the consent records to send anything"
            )
    return result


def _refuse_unmatched(raw_dir: Path) -> None:
    """A data file or folder whose name is no table of the contract refuses the load, naming the nearest table
    (a misnamed file would otherwise be left out without a word)."""
    names = list(TABLES)
    for path in sorted(raw_dir.iterdir()):
        stem = path.stem if path.suffix in SUFFIXES else (path.name if path.is_dir() else None)
        if stem is None or stem in TABLES or (path.is_dir() and path.name in ("raw", "truth")):
            continue
        if path.is_dir() and not any(p.suffix in SUFFIXES for p in path.iterdir()):
            continue
        raise OutflowError(
            f"{path}: matches no raw table{did_you_mean(stem, names)} Rename it to <table>.csv or <table>.parquet, "
            "or move it out of the folder"
        )


def _validate(
    local: Warehouse, raw_dir: Path, quarantine: bool, allowed: set[str], result: LoadResult, date_order: str | None
) -> dict[str, list[_Checked]]:
    """Phase 1: check every file of every table; refuse a table that gates sending and has no rows."""
    checked = {}
    for table in TABLES.values():
        local.execute(f"create table r_{table.name} (_file varchar, _line bigint, _reason varchar)")
        files = _files_for(raw_dir, table.name)
        checked[table.name] = [_check_file(local, table, path, quarantine, date_order) for path in files]
        if table.gates_sending and not sum(c.good for c in checked[table.name]) and table.name not in allowed:
            raise OutflowError(_gate_message(table, raw_dir, files))
        if not files:
            result.missing_tables.append(table.name)
            log.info("%s: no file for table %s", raw_dir, table.name)  # the caller says it, once
    return checked


def _good_rows(local: Warehouse, file: _Checked, extra: str = "") -> Iterator:
    """The file's good rows, read again in contract types, as a stream of Arrow batches."""
    _forget_rejects(local, file.path)
    return local.fetch_arrow_batches(
        f"select {', '.join(file.select)}{extra} from {file.source} where ({file.reason}) is null"
    )


def _ensure_table(wh: Warehouse, table: Table) -> None:
    """Create `raw.<table>` with the contract's columns; recreate it if its columns differ (never the ledger)."""
    cols = ", ".join(f"{_q(c.name)} {TYPES[c.type][1]}" for c in table.columns)
    existing = list(wh.columns("raw", table.name))
    if existing == table.column_names:
        return
    if existing and table.append_only:
        raise OutflowError(
            f"raw.{table.name} has columns {', '.join(existing)}; the contract's are {', '.join(table.column_names)}."
            " The ledger is never replaced: migrate it by hand"
        )
    if existing:
        try:
            wh.execute(f"drop table raw.{_q(table.name)}")
        except QueryError:
            raise OutflowError(
                f"raw.{table.name} has columns {', '.join(existing)} and must be recreated with the contract's "
                f"({', '.join(table.column_names)}), but other objects depend on it (views, such as dbt's staging "
                "models): drop them, load again, then rebuild with dbt"
            ) from None
    wh.execute(f"create table raw.{_q(table.name)} ({cols})")


def _swap(
    wh: Warehouse,
    local: Warehouse,
    checked: dict[str, list[_Checked]],
    result: LoadResult,
    truth: list[Path],
    as_of: str | None,
) -> None:
    """Phase 2: write every table's good rows through the warehouse interface in one transaction."""
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    with wh.transaction():
        wh.create_schema("raw")
        wh.execute(
            "create table if not exists raw.rejected_rows (table_name varchar, file varchar, row_number bigint, "
            "reason varchar, loaded_at timestamp)"
        )
        for table in TABLES.values():
            _ensure_table(wh, table)
            target = f"raw.{_q(table.name)}"
            if table.append_only:
                for file in checked[table.name]:
                    _append_new(wh, local, table, file, result)
            else:
                wh.execute(f"delete from {target}")  # emptied, not dropped: views on it stay valid
                for file in checked[table.name]:
                    wh.write_arrow_batches(f"raw.{table.name}", _good_rows(local, file))
                expected = sum(f.good for f in checked[table.name])
                if _count(wh, target) != expected:
                    raise OutflowError(f"{table.name}: a file changed while it was loaded; load again")
            wh.execute("delete from raw.rejected_rows where table_name = ?", [table.name])
            rejects = local.fetch_arrow(
                "select cast(? as varchar) as table_name, _file as file, _line as row_number, _reason as reason, "
                f"cast(? as timestamp) as loaded_at from r_{table.name} order by _file, _line",
                [table.name, loaded_at],
            )
            if rejects.num_rows:
                wh.write_arrow("raw.rejected_rows", rejects, mode="append")
            result.rows[table.name] = _count(wh, target)
            result.rejected[table.name] = rejects.num_rows
        if truth:
            wh.create_schema("truth")
        for sub in truth:
            parts = local.fetch_arrow_batches(f"select * from read_parquet({_lit(str(sub / '*.parquet'))})")
            wh.write_arrow_batches(f"truth.{sub.name}", parts, mode="replace")
        wh.execute("create table if not exists raw.dataset_info (as_of date)")
        wh.execute("delete from raw.dataset_info")
        if as_of:
            wh.execute("insert into raw.dataset_info values (cast(? as date))", [as_of])


def _count(wh: Warehouse, target: str) -> int:
    return wh.execute(f"select count(*) from {target}").fetchall()[0][0]


def _append_new(wh: Warehouse, local: Warehouse, table: Table, file: _Checked, result: LoadResult) -> None:
    """Add the file's rows whose key the ledger does not hold yet; of a key repeated in the file, the first."""
    names = ", ".join(_q(c) for c in table.column_names)
    key = _q(table.key)
    target = f"raw.{_q(table.name)}"
    wh.write_arrow_batches(SOURCE, _good_rows(local, file, ", row_number() over () as _n"), "replace", temporary=True)
    firsts = (
        f"(select * from (select *, row_number() over (partition by {key} order by _n) as _k from {SOURCE}) "
        "as numbered where _k = 1) as s"
    )
    others = " or ".join(f"s.{_q(c)} is distinct from t.{_q(c)}" for c in table.column_names if c != table.key)
    if "identifier" in table.column_names:  # a request erased everywhere lost its raw identifier on purpose
        others = f"({others}) and t.identifier not like '{ERASED_IDENTIFIER_PREFIX}%'"
    result.erasures_kept += wh.execute(
        f"select count(*) from {firsts} join {target} as t on t.{key} = s.{key} where {others}"
    ).fetchall()[0][0]
    before = _count(wh, target)
    wh.execute(
        f"insert into {target} ({names}) select {names} from {firsts} "
        f"where not exists (select 1 from {target} as t where t.{key} = s.{key})"
    )
    result.erasures_added += _count(wh, target) - before
    wh.execute(f"drop table {SOURCE}")


def _read_as_of(path: Path) -> str | None:
    """The dataset's date from an AS_OF file (one line, YYYY-MM-DD): the default as-of of every command."""
    if not path.is_file():
        return None
    text = path.read_text().strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise OutflowError(f"{path}: {text[:40]!r} is not a date; write the dataset's date as YYYY-MM-DD") from None


def dataset_as_of(wh: Warehouse) -> str | None:
    """The as-of date of a generated dataset, if the loaded data came from the generator."""
    if not table_exists(wh, "raw", "dataset_info"):  # the helper also takes a driver connection (older tests)
        return None
    row = wh.execute("select max(as_of) from raw.dataset_info").fetchone()
    return row[0].isoformat() if row and row[0] else None
