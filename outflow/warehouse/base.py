"""The warehouse interface every part of Outflow uses; one back end per engine implements it.

A back end subclasses :class:`Warehouse` and fills in the few driver-specific methods (``_execute``, the Arrow
fetch and the bulk write, the transaction and session hooks). Everything else — qualified names, introspection
through ``information_schema``, polars conversion — is shared here and speaks standard SQL.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol

from outflow.errors import OutflowError

if TYPE_CHECKING:  # polars and pyarrow load on first use: `outflow --help` stays fast
    import polars as pl
    import pyarrow as pa

WriteMode = Literal["append", "replace", "create"]


class WarehouseError(OutflowError):
    """A connection or configuration problem the user can fix: one line naming the setting, never a secret."""


class QueryError(Exception):
    """A statement the warehouse refused (bad SQL, a missing table...). Catch it instead of a driver's error."""


class Result(Protocol):
    """What ``Warehouse.execute`` returns: a DB-API style cursor over the statement's rows."""

    description: Any

    def fetchall(self) -> list[tuple]: ...

    def fetchone(self) -> tuple | None: ...

    def fetchmany(self, size: int = ...) -> list[tuple]: ...


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (standard SQL: DuckDB and PostgreSQL agree)."""
    return '"' + name.replace('"', '""') + '"'


def split_name(qualified: str, default_schema: str) -> tuple[str, str]:
    """``'raw.orders'`` -> ``('raw', 'orders')``; a bare name lives in ``default_schema``."""
    schema, _, table = qualified.rpartition(".")
    return (schema.strip('"') or default_schema, table.strip('"'))


def as_arrow(data: pa.Table | pl.DataFrame | pa.RecordBatch) -> pa.Table:
    import polars as pl
    import pyarrow as pa

    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return data
    raise TypeError(f"write_arrow takes a pyarrow Table or a polars DataFrame, not {type(data).__name__}")


class Warehouse(abc.ABC):
    """One session on the warehouse. Get one from :func:`outflow.warehouse.connect`.

    ``execute`` takes ``?`` placeholders and a list of parameters on every back end. Statements outside
    :meth:`transaction` commit on their own (auto-commit), as DuckDB does.
    """

    target: str
    """``"duckdb"`` | ``"postgres"``: which engine this is."""
    dialect: str
    """The sqlglot dialect name to render SQL for (``sqlglot.transpile(sql, write=wh.dialect)``)."""
    default_schema: str = "main"
    """Where unqualified tables live and where dbt builds its models."""

    # ---- driver-specific --------------------------------------------------------------------------------------
    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement; raise :class:`QueryError` if the warehouse refuses it."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per parameter row (small writes; use :meth:`write_arrow` for bulk)."""

    @abc.abstractmethod
    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """The statement's rows as an Arrow table, with the engine's types mapped to Arrow types."""

    @abc.abstractmethod
    def _write(self, schema: str | None, table: str, data: pa.Table, mode: WriteMode, temporary: bool) -> None: ...

    @abc.abstractmethod
    def _begin(self) -> None: ...

    def _commit(self) -> None:
        self.execute("commit")

    @abc.abstractmethod
    def _rollback(self) -> None: ...

    @abc.abstractmethod
    def cursor(self) -> Warehouse:
        """A second session on the same database: its own transactions and its own temp tables."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def read_only(self) -> bool:
        """True when this session may not write."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the warehouse is, for messages: the DuckDB file, or the Postgres URL with no password."""

    # ---- shared -----------------------------------------------------------------------------------------------
    _tx_depth: int = 0

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """BEGIN … COMMIT; ROLLBACK if the block raises. A nested block joins the outer transaction."""
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield self
            finally:
                self._tx_depth -= 1
            return
        self._begin()
        self._tx_depth = 1
        try:
            yield self
        except BaseException:
            self._tx_depth = 0
            self._rollback()
            raise
        self._tx_depth = 0
        self._commit()

    @property
    def in_transaction(self) -> bool:
        return self._tx_depth > 0

    def fetch_polars(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """The statement's rows as a polars DataFrame."""
        import polars as pl

        out = pl.from_arrow(self.fetch_arrow(sql, params))
        assert isinstance(out, pl.DataFrame)
        return out

    def fetch_arrow_batches(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[pa.RecordBatch]:
        """The statement's rows as Arrow record batches, for results too big to hold at once; at least one batch
        (empty if there are no rows), so the columns are always known. A back end that cannot stream fetches the
        whole result first."""
        import pyarrow as pa

        table = self.fetch_arrow(sql, params)
        yield from table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]

    def write_arrow(
        self,
        qualified_table: str,
        data: pa.Table | pl.DataFrame,
        mode: WriteMode = "append",
        *,
        temporary: bool = False,
    ) -> int:
        """Bulk-write ``data`` into ``schema.table``; return the number of rows written.

        ``append`` adds rows by column name (creating the table if it does not exist), ``replace`` drops and
        recreates it, ``create`` fails if it exists. ``temporary=True`` makes a temp table that only this session
        sees (give a bare name). Never row-by-row: DuckDB scans the Arrow table, PostgreSQL uses COPY.
        """
        table = as_arrow(data)
        schema, name = self._write_target(qualified_table, mode, temporary)
        self._write(schema, name, table, mode, temporary)
        return table.num_rows

    def write_arrow_batches(
        self,
        qualified_table: str,
        batches: Iterable[pa.RecordBatch],
        mode: WriteMode = "append",
        *,
        temporary: bool = False,
    ) -> int:
        """`write_arrow` for a stream of record batches too big to hold at once (at least one batch, so the
        columns are known; another session's or engine's `fetch_arrow_batches` gives that: within one session,
        copy with SQL); return the number of rows written. The first batch is written in ``mode``, the rest
        appended. Back ends that can scan a stream write it in one statement (DuckDB: inside a transaction, a large
        write then goes to the file as it runs instead of being held in memory until the commit)."""
        schema, name = self._write_target(qualified_table, mode, temporary)
        return self._write_batches(schema, name, iter(batches), mode, temporary)

    def _write_batches(
        self, schema: str | None, table: str, batches: Iterator[pa.RecordBatch], mode: WriteMode, temporary: bool
    ) -> int:
        written = 0
        for i, batch in enumerate(batches):
            self._write(schema, table, as_arrow(batch), mode if i == 0 else "append", temporary)
            written += batch.num_rows
        return written

    def _write_target(self, qualified_table: str, mode: WriteMode, temporary: bool) -> tuple[str | None, str]:
        """(schema, table) of a write, checked: the schema is None for a temp table."""
        if mode not in ("append", "replace", "create"):
            raise ValueError(f"write_arrow mode must be append, replace or create, not {mode!r}")
        if temporary:
            if "." in qualified_table:
                raise ValueError(f"a temp table has no schema: {qualified_table!r}")
            return None, qualified_table
        return split_name(qualified_table, self.default_schema)

    def qualify(self, schema: str | None, table: str) -> str:
        return f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)

    def _any(self, sql: str, params: Sequence[Any]) -> bool:
        """Does the ``select count(*) ...`` statement count anything?"""
        row = self.execute(sql, params).fetchone()
        return bool(row and row[0])

    def table_exists(self, schema: str, table: str) -> bool:
        """Does ``schema.table`` (a table or a view) exist?"""
        return self._any(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, table],
        )

    def columns(self, schema: str, table: str) -> dict[str, str]:
        """Column name -> type (lower case, as the engine names it), in order; empty if there is no such table."""
        rows = self.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() and table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
        return {c: str(t).lower() for c, t in rows}

    def tables(self, schema: str) -> list[str]:
        """The tables and views of ``schema``, sorted."""
        rows = self.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? order by table_name",
            [schema],
        ).fetchall()
        return [r[0] for r in rows]

    def create_schema(self, schema: str) -> None:
        self.execute(f"create schema if not exists {quote_ident(schema)}")

    def transpile(self, sql: str, read: str = "duckdb") -> str:
        """``sql`` written in ``read``'s dialect, rendered for this warehouse."""
        if read == self.dialect:
            return sql
        import sqlglot

        return ";\n".join(sqlglot.transpile(sql, read=read, write=self.dialect))

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"
