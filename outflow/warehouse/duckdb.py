"""The DuckDB back end: the embedded default (one file, OUTFLOW_WAREHOUSE). The only module that imports duckdb."""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from outflow.warehouse.base import QueryError, Warehouse, WarehouseError, WriteMode, quote_ident


class DuckDBQueryError(QueryError, duckdb.Error):
    """A refused statement; still a ``duckdb.Error`` for code written against the driver."""


class DuckDBOutOfMemory(WarehouseError, DuckDBQueryError):
    """A statement that needed more memory than OUTFLOW_DUCKDB_MEMORY_LIMIT allows: the user's setting to raise."""


#: How DuckDB ends every out-of-memory message, whatever its error class ("Out of Memory Error: could not allocate
#: ...", "TransactionContext Error: Failed to commit: failed to pin block ..."): "(57.0 MiB/57.2 MiB used)".
_MEMORY_USED = re.compile(r"\(\d+(\.\d+)? \w+/\d+(\.\d+)? \w+ used\)")


def out_of_memory(message: str) -> str | None:
    """The line of a DuckDB message (the driver's, or dbt's for a model) that says it ran out of memory, or None."""
    return next((ln.strip() for ln in message.splitlines() if _MEMORY_USED.search(ln)), None)


def memory_hint() -> str:
    """What to do when DuckDB ran out of memory: the setting that raises its limit, with the limit it had."""
    return (
        f"DuckDB ran out of memory at its limit of {memory_limit()}: set OUTFLOW_DUCKDB_MEMORY_LIMIT higher "
        "(e.g. 8GB, or 50% of the machine's memory) and run again"
    )


class DuckDBStaleCatalog(WarehouseError, DuckDBQueryError):
    """A view naming the catalog of the file's old name (stored by DuckDB 1, then the file copied or renamed)."""

    def __init__(self, catalog: str) -> None:
        super().__init__(
            f"this warehouse's views name the catalog '{catalog}' (the file's name when they were built, before it "
            "was copied or renamed): run `outflow build` once, which recreates them"
        )


#: The catalog a statement named that is not attached: DuckDB 2's "Table with name "old.main.t" does not exist
#: because schema "old.main" does not exist", DuckDB 1's "Catalog "old" does not exist!".
_MISSING_CATALOG = re.compile(r'because schema "([^".]+)\.[^"]+" does not exist|Catalog "([^"]+)" does not exist')


def _query_error(exc: duckdb.Error, con: duckdb.DuckDBPyConnection | None = None) -> DuckDBQueryError:
    text = str(exc)
    if line := out_of_memory(text):
        return DuckDBOutOfMemory(f"{memory_hint()} ({line})")
    if con is not None and (catalog := _stale_catalog(con, text)):
        return DuckDBStaleCatalog(catalog)
    return DuckDBQueryError(text)


def _stale_catalog(con: duckdb.DuckDBPyConnection, text: str) -> str | None:
    """The catalog a failed statement named, when it is no attached database and a view of the warehouse names it.

    DuckDB names a file's catalog after its stem. dbt names relations without it (macros/relation_names.sql) and
    DuckDB 2 drops a view's own catalog from the text it stores, but a view stored by DuckDB 1 keeps it and stops
    working once the file is copied or renamed."""
    found = _MISSING_CATALOG.search(text)
    catalog = found and (found.group(1) or found.group(2))
    if not catalog:
        return None
    try:
        attached = {row[0] for row in con.execute("select database_name from duckdb_databases()").fetchall()}
        if catalog in attached:
            return None
        named = con.execute(
            "select count(*) from duckdb_views() where not internal and database_name = current_database() "
            "and (contains(lower(sql), lower(?)) or contains(lower(sql), lower(?)))",
            [f"{catalog}.", f'"{catalog}".'],
        ).fetchone()
    except duckdb.Error:  # the connection is unusable after the first error: say what DuckDB said
        return None
    return catalog if named and named[0] else None


_views = itertools.count()
log = logging.getLogger(__name__)

#: How long opening a warehouse another process holds waits for DuckDB's file lock before giving up, in seconds
#: (OUTFLOW_LOCK_TIMEOUT; 0: do not wait).
DEFAULT_LOCK_TIMEOUT = 30.0


#: How much memory DuckDB may take (OUTFLOW_DUCKDB_MEMORY_LIMIT), in dbt and in every connection, by default: a
#: quarter of the machine's memory (or of the container's limit), at least 1 GiB and at most 4 GiB. Past it, DuckDB
#: spills to a temporary folder beside the file. DuckDB's own default, 80% of the memory, is a cache that grows
#: with the data (10 GB at 1M people) and leaves too little to the Python steps on a laptop; 4 GiB costs no CPU
#: at 1M people (docs/performance.md). Bigger data on a bigger machine: raise it.
DEFAULT_MEMORY_SHARE = 0.25
DEFAULT_MEMORY_MIN_MIB = 1024
DEFAULT_MEMORY_MAX_MIB = 4096
_MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(%|b|kb|mb|gb|tb|kib|mib|gib|tib)", re.IGNORECASE)
# a container's memory limit (cgroup v2, then v1): "max" or a huge number when there is none
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_memory() -> int:
    """The memory this process may use, in bytes: the machine's, or its container's limit when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in _CGROUP_LIMITS:
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            total = min(total, int(raw))
    return total


def default_memory_limit() -> str:
    """DEFAULT_MEMORY_SHARE of `machine_memory()`, between the minimum and the maximum, in MiB (e.g. ``4096MiB``)."""
    mib = int(machine_memory() * DEFAULT_MEMORY_SHARE) // 2**20
    return f"{max(DEFAULT_MEMORY_MIN_MIB, min(DEFAULT_MEMORY_MAX_MIB, mib))}MiB"


def memory_limit() -> str:
    """OUTFLOW_DUCKDB_MEMORY_LIMIT (e.g. ``4GB`` or ``50%``), checked; else the default (`default_memory_limit`)."""
    raw = os.environ.get("OUTFLOW_DUCKDB_MEMORY_LIMIT", "").strip()
    if not raw:
        return default_memory_limit()
    if not _MEMORY_SIZE.fullmatch(raw):
        raise WarehouseError(
            f"OUTFLOW_DUCKDB_MEMORY_LIMIT={raw!r} is not a memory size: set it like 4GB, or 50% of the machine's"
        )
    return raw


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and ("Conflicting lock" in str(exc) or "Could not set lock" in str(exc))


def _holder(text: str) -> str:
    """Who holds the lock, from DuckDB's message: its PID and, when it runs on this machine, its command."""
    pid = re.search(r"\(PID (\d+)\)", text)
    if not pid:
        return "another process"
    try:
        raw = Path(f"/proc/{pid.group(1)}/cmdline").read_bytes().decode(errors="replace")
        command = " ".join(raw.replace("\0", " ").split())
    except OSError:
        command = ""
    return f"another process (PID {pid.group(1)})" + (f" running `{command[:60]}`" if command else "")


def _open_error(path: Path, exc: duckdb.Error, waited: float = 0.0) -> WarehouseError:
    text = str(exc)
    if _locked(exc):
        after = f" (waited {waited:.0f} s; OUTFLOW_LOCK_TIMEOUT)" if waited else ""
        return WarehouseError(
            f"the DuckDB warehouse {path} is locked by {_holder(text)}{after}: wait for it to finish or stop it, "
            "then run this again (DuckDB allows one writing process), or point OUTFLOW_WAREHOUSE at another file"
        )
    return WarehouseError(f"cannot open the DuckDB warehouse {path} (OUTFLOW_WAREHOUSE): {_first_line(exc)}")


def lock_timeout() -> float:
    """OUTFLOW_LOCK_TIMEOUT in seconds (default 30)."""
    raw = os.environ.get("OUTFLOW_LOCK_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise WarehouseError(f"OUTFLOW_LOCK_TIMEOUT={raw!r} is not a number of seconds") from None


def _connect_waiting(target: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting (bounded by OUTFLOW_LOCK_TIMEOUT, with a warning saying who holds it) while
    another process holds the file's lock; then one line naming the holder."""
    from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_exponential

    timeout = lock_timeout()
    said = []

    def tell(state) -> None:  # once: what we wait for, and for how long at most
        if not said:
            said.append(True)
            holder = _holder(str(state.outcome.exception()))
            log.warning("the warehouse %s is locked by %s: waiting up to %.0f s", target, holder, timeout)

    retrying = Retrying(
        retry=retry_if_exception(_locked),
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        before_sleep=tell,
        reraise=False,
    )
    try:
        return retrying(duckdb.connect, str(target), read_only=read_only)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise _open_error(target, last, retrying.statistics.get("delay_since_first_attempt", timeout)) from None


def open_duckdb(path: Path | str, read_only: bool = False) -> DuckDBWarehouse:
    """Open (creating if needed, unless read-only) the DuckDB file at ``path``. While another process holds the
    file, wait for it up to OUTFLOW_LOCK_TIMEOUT seconds (a warning says who holds it)."""
    target = Path(path)
    if str(path) == ":memory:":
        return DuckDBWarehouse(duckdb.connect(":memory:"), ":memory:")
    if read_only and not target.is_file():
        raise WarehouseError(f"the DuckDB warehouse {target} does not exist: build it first, or set OUTFLOW_WAREHOUSE")
    if not read_only:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = _connect_waiting(target, read_only)
    except duckdb.ConnectionException:
        # The file is already open read-write in this process (tests, notebooks): DuckDB allows one configuration.
        if not read_only:
            raise
        try:
            con = _connect_waiting(target, False)
        except duckdb.Error as exc:
            raise _open_error(target, exc) from None
    except duckdb.Error as exc:
        raise _open_error(target, exc) from None
    con.execute(f"set memory_limit = '{memory_limit()}'")
    return DuckDBWarehouse(con, str(target))


def local_engine(temp_directory: Path | str | None = None) -> DuckDBWarehouse:
    """A private in-memory DuckDB used as a local file engine (reading and checking CSV/Parquet files), apart
    from the warehouse whatever its target. ``temp_directory`` is where it spills when memory runs short; rows
    keep their file order. Its memory is bounded like the warehouse's (`memory_limit`), not DuckDB's default of
    80% of the machine."""
    config: dict[str, Any] = {"preserve_insertion_order": True, "memory_limit": memory_limit()}
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    con = duckdb.connect(":memory:", config=config)
    con.execute("set enable_progress_bar = false")
    return DuckDBWarehouse(con, ":memory:")


class DuckDBWarehouse(Warehouse):
    target = "duckdb"
    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        self._con = con
        self._path = path

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        """The driver connection, for the back end's own use (and code not yet moved to the interface)."""
        return self._con

    def splink_connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection for Splink's DuckDBAPI (the fuzzy identity stage runs Splink on a local engine)."""
        self._con.complete()
        return self._con

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql, params) if params is not None else self._con.execute(sql)
        except duckdb.Error as exc:
            raise _query_error(exc, self._con) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            self._con.executemany(sql, rows)
        except duckdb.Error as exc:
            raise _query_error(exc, self._con) from exc

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        try:
            self._con.complete()  # DuckDB runs nothing else while an execute() result is unread
            rel = self._con.sql(sql, params=params)
            return rel.to_arrow_table() if rel is not None else pa.table({})  # the query runs here
        except duckdb.Error as exc:
            raise _query_error(exc, self._con) from exc

    def fetch_arrow_batches(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[pa.RecordBatch]:
        try:
            self._con.complete()
            reader = self._con.sql(sql, params=params).to_arrow_reader()
            empty = True
            for batch in reader:
                empty = False
                yield batch
            if empty:
                yield pa.RecordBatch.from_pylist([], schema=reader.schema)
        except duckdb.Error as exc:
            raise _query_error(exc, self._con) from exc

    def _write_batches(
        self, schema: str | None, table: str, batches: Iterator[pa.RecordBatch], mode: WriteMode, temporary: bool
    ) -> int:
        # one statement scans the whole stream: many small appends in one transaction stay in memory until the
        # commit (a load of 1M people's files in one transaction: 3.7 GB for its events alone, 0.9 GB as a stream)
        first = next(batches)
        written = 0

        def counted() -> Iterator[pa.RecordBatch]:
            nonlocal written
            for batch in itertools.chain([first], batches):
                written += batch.num_rows
                yield batch

        self._write(schema, table, pa.RecordBatchReader.from_batches(first.schema, counted()), mode, temporary)
        return written

    def _write(
        self, schema: str | None, table: str, data: pa.Table | pa.RecordBatchReader, mode: WriteMode, temporary: bool
    ) -> None:
        view = f"_outflow_write_{next(_views)}"
        target = self.qualify(schema, table)
        self._con.complete()
        self._con.register(view, data)
        try:
            if schema:
                self.execute(f"create schema if not exists {quote_ident(schema)}")
            temp = "temp " if temporary else ""
            exists = self._temp_exists(table) if temporary else self.table_exists(schema, table)
            if mode == "append" and exists:
                self.execute(f"insert into {target} by name select * from {view}")
            elif mode == "replace":
                self.execute(f"create or replace {temp}table {target} as select * from {view}")
            else:
                self.execute(f"create {temp}table {target} as select * from {view}")
        finally:
            self._con.unregister(view)

    def _temp_exists(self, table: str) -> bool:
        return self._any("select count(*) from duckdb_tables() where temporary and table_name = ?", [table])

    def _begin(self) -> None:
        self.execute("begin transaction")

    def _rollback(self) -> None:
        try:
            self.execute("rollback")
        except QueryError:  # the failed statement already ended the transaction
            pass

    def cursor(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(self._con.cursor(), self._path)

    def close(self) -> None:
        self._con.close()

    @property
    def read_only(self) -> bool:
        row = self.execute(
            "select readonly from duckdb_databases() where database_name = current_database()"
        ).fetchone()
        return bool(row and row[0])

    @property
    def location(self) -> str:
        return self._path
