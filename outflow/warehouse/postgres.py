"""The PostgreSQL back end (psycopg 3). The only module that imports psycopg.

- ``?`` placeholders are translated to psycopg's ``%s`` (and a literal ``%`` is doubled).
- Statements auto-commit outside :meth:`Warehouse.transaction`, as on DuckDB.
- Bulk writes are one ``COPY ... FROM STDIN`` per call, never row-by-row inserts: CSV that pyarrow renders a
  batch at a time (lists and binary columns go through psycopg row by row).
- Reads become Arrow columns typed from the result's type OIDs: a query streams as CSV (``COPY (query) TO
  STDOUT``) that pyarrow parses in bulk; other statements and array or interval results go through rows.
- Unqualified names resolve in ``main`` then ``public`` (``search_path``), like DuckDB's ``main``.
- Connection and permission problems become one line naming OUTFLOW_POSTGRES_URL, with the password masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg.errors
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.string import TextLoader

from outflow.warehouse.base import QueryError, Warehouse, WarehouseError, WriteMode, quote_ident

SETTING = "OUTFLOW_POSTGRES_URL"
BATCH_ROWS = 65_536
ANALYZE_ROWS = 10_000  # a table a transaction bulk-filled with at least this many rows is analyzed at commit


def mask(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    return re.sub(r"(://[^:/@?#]*):[^@/]*@", r"\1:***@", url)


def _parts(url: str, setting: str = SETTING) -> dict[str, Any]:
    try:
        return conninfo_to_dict(url)
    except psycopg.Error:
        raise WarehouseError(
            f"{setting} is not a valid PostgreSQL URL ({mask(url)}): expected postgresql://user@host:port/dbname"
        ) from None


def _where(info: dict[str, Any]) -> str:
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user', '')}"


def _connect_error(exc: psycopg.Error, info: dict[str, Any], setting: str = SETTING) -> WarehouseError:
    text = str(exc)
    user, where = info.get("user") or "(default user)", _where(info)
    password = info.get("password")
    if "no password supplied" in text:
        msg = (
            f"PostgreSQL at {where} asks for a password for user {user} and none was given: "
            f"set PGPASSWORD, or the password in {setting}"
        )
    elif "password authentication failed" in text or "authentication failed" in text:
        msg = (
            f"PostgreSQL at {where} refused user {user} (authentication failed): "
            f"fix the user or password in {setting} / PGPASSWORD"
        )
    elif re.search(r'role ".*" does not exist', text):
        msg = f"PostgreSQL at {where} has no user {user}: fix the user in {setting}"
    elif re.search(r'database ".*" does not exist', text):
        msg = f"PostgreSQL at {where} has no database {info.get('dbname')}: create it, or fix the database in {setting}"
    elif "not permitted to log in" in text:
        msg = f"PostgreSQL at {where} does not let user {user} log in: grant it LOGIN, or change the user in {setting}"
    else:
        reason = next((ln.strip() for ln in reversed(text.splitlines()) if "failed:" in ln), text.strip())
        reason = reason.rsplit("failed:", 1)[-1].strip() or "no answer"
        msg = f"cannot reach PostgreSQL at {where} ({reason}): check {setting} and that the server is running"
    if password:
        msg = msg.replace(password, "***")
    return WarehouseError(mask(msg))


def open_postgres(url: str, read_only: bool = False, setting: str = SETTING) -> PostgresWarehouse:
    """Connect to the database at ``url`` (auto-commit; ``read_only`` makes every transaction read-only).

    ``setting`` is where the user gave the URL: every error names it.
    """
    info = _parts(url, setting)
    options = "-c search_path=main,public -c timezone=UTC"
    if read_only:
        options += " -c default_transaction_read_only=on"
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10, options=options)
    except psycopg.Error as exc:
        raise _connect_error(exc, info, setting) from None
    return PostgresWarehouse(conn, url, info, read_only, setting)


def translate(sql: str) -> str:
    """``?`` placeholders -> ``%s`` (outside quotes and comments); every literal ``%`` doubled for psycopg."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:  # doubled quote inside the literal
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1].replace("%", "%%"))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


# Result columns: PostgreSQL type OID -> Arrow type (anything else is inferred from the Python values).
_ARROW_BY_OID: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    26: pa.int64(),
    700: pa.float32(),
    701: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    1042: pa.string(),
    19: pa.string(),
    114: pa.string(),
    3802: pa.string(),
    2950: pa.string(),
    17: pa.binary(),
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    1186: pa.duration("us"),
    1009: pa.list_(pa.string()),
    1015: pa.list_(pa.string()),
    1005: pa.list_(pa.int16()),
    1007: pa.list_(pa.int32()),
    1016: pa.list_(pa.int64()),
    1021: pa.list_(pa.float32()),
    1022: pa.list_(pa.float64()),
    1000: pa.list_(pa.bool_()),
}


def _arrow_type(col: Any) -> pa.DataType | None:
    if col.type_code == 1700:  # numeric: exact when declared numeric(p, s), else a double like DuckDB's
        if col.precision is not None and col.scale is not None and col.precision <= 38:
            return pa.decimal128(col.precision, col.scale)
        return pa.float64()
    return _ARROW_BY_OID.get(col.type_code)


#: A statement whose result COPY can stream: a query (not DML with RETURNING, not a utility statement).
_QUERY = re.compile(r"^\s*(select|with|values)\b", re.IGNORECASE)


def _csv_readable(t: pa.DataType) -> bool:
    """pyarrow's CSV reader parses PostgreSQL's CSV text of this type exactly."""
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_date32(t)
        or pa.types.is_timestamp(t)
    )


def _column(values: list[Any], typ: pa.DataType | None) -> pa.Array:
    if typ is not None:
        if pa.types.is_string(typ):
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
        elif pa.types.is_floating(typ):
            values = [v if v is None else float(v) for v in values]
        return pa.array(values, type=typ)
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([v if v is None else str(v) for v in values], type=pa.string())


def _pg_type(t: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type (write_arrow's CREATE TABLE)."""
    if pa.types.is_dictionary(t):
        return _pg_type(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "bigint"
    if pa.types.is_uint64(t):
        return "numeric(20, 0)"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision}, {t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        return "text"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytea"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_duration(t):
        return "interval"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _pg_type(t.value_type) + "[]"
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return "jsonb"
    raise WarehouseError(f"write_arrow: no PostgreSQL type for Arrow type {t}")


def _csv_column(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """``col`` as a column pyarrow's CSV writer renders the way PostgreSQL's CSV COPY reads it; None if it cannot
    (lists, binary, durations: those tables go row by row)."""
    t = col.type
    if pa.types.is_dictionary(t):
        return _csv_column(col.cast(t.value_type))
    if pa.types.is_string_view(t):
        return col.cast(pa.string())
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return pa.chunked_array([pa.array(_to_python(col), type=pa.string())])
    if pa.types.is_float16(t):
        return col.cast(pa.float32())
    if (
        _csv_readable(t)
        or pa.types.is_large_string(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_null(t)
    ):
        return col
    return None


def _as_csv(data: pa.Table) -> pa.Table | None:
    """``data`` ready for :func:`pyarrow.csv.write_csv`, or None if a column has no CSV form PostgreSQL reads."""
    cols = [_csv_column(c) for c in data.columns]
    if any(c is None for c in cols):
        return None
    return pa.Table.from_arrays(cols, names=data.column_names)


def _to_python(col: pa.ChunkedArray) -> list[Any]:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = t.value_type
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()]
    if pa.types.is_string_view(t):
        col = col.cast(pa.string())
    return col.to_pylist()


class PostgresWarehouse(Warehouse):
    target = "postgres"
    dialect = "postgres"

    def __init__(
        self, conn: psycopg.Connection, url: str, info: dict[str, Any], read_only: bool, setting: str = SETTING
    ) -> None:
        self._conn = conn
        self._url = url
        self._info = info
        self._setting = setting
        self._read_only = read_only
        self._filled: dict[str, int] = {}  # rows bulk-written per table in the open transaction
        # JSON comes back as text, as on DuckDB.
        for name in ("json", "jsonb"):
            conn.adapters.register_loader(name, TextLoader)
        if not read_only and not self._schema_exists(self.default_schema):
            # DuckDB always has schema main; give PostgreSQL the same (a user who may not create it gets the
            # clear permission error at the first write instead).
            try:
                conn.execute(f"create schema if not exists {quote_ident(self.default_schema)}")
            except psycopg.errors.InsufficientPrivilege:
                pass

    @property
    def raw(self) -> psycopg.Connection:
        """The driver connection, for the back end's own use."""
        return self._conn

    def _error(self, exc: psycopg.Error, sql: str) -> Exception:
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return self._privilege_error(exc.diag.message_primary or str(exc).splitlines()[0])
        if isinstance(exc, psycopg.OperationalError) and self._conn.closed:
            return _connect_error(exc, self._info, self._setting)
        return QueryError(str(exc).strip())

    def _privilege_error(self, what: str) -> WarehouseError:
        user = self._info.get("user") or "(default user)"
        m = re.search(r"permission denied for (schema|database|table|relation|view|sequence) (\S+)", what)
        if m and m.group(1) == "schema":
            grant = f"GRANT USAGE, CREATE ON SCHEMA {m.group(2)} TO {user}"
        elif m and m.group(1) == "database":
            grant = f"GRANT CREATE ON DATABASE {m.group(2)} TO {user}"
        elif m:
            grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON {m.group(2)} TO {user}"
        else:
            grant = "GRANT the missing privilege"
        return WarehouseError(
            f"PostgreSQL user {user} at {_where(self._info)} lacks a privilege ({what}): {grant}, "
            f"or use another user in {self._setting}"
        )

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor:
        cur = self._conn.cursor()
        try:
            if params is None:
                cur.execute(sql)
            else:
                cur.execute(translate(sql), list(params))
        except psycopg.Error as exc:
            raise self._error(exc, sql) from exc
        return cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            with self._conn.cursor() as cur:
                cur.executemany(translate(sql), [list(r) for r in rows])
        except psycopg.Error as exc:
            raise self._error(exc, sql) from exc

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        if _QUERY.match(sql):
            table = self._fetch_copy(sql, params)
            if table is not None:
                return table
        return self._fetch_rows(sql, params)

    def _fetch_copy(self, sql: str, params: Sequence[Any] | None) -> pa.Table | None:
        """A query's result, columnar: ``COPY (query) TO STDOUT`` as CSV on this same connection (so it sees this
        session's uncommitted rows and temp tables), parsed by pyarrow with the types of the result's columns.
        None if a column has a type pyarrow cannot read from CSV (arrays, intervals...), or a value it cannot parse
        (e.g. an infinite date): then the rows path answers."""
        query = sql.strip().rstrip(";")
        described = self.execute(f"select * from (\n{query}\n) as q limit 0", params).description
        if described is None:
            return None
        types = [_arrow_type(d) for d in described]
        if any(t is None or not _csv_readable(t) for t in types):
            return None
        copy_sql = f"copy (\n{query}\n) to stdout (format csv)"  # newlines: the query may end in a comment
        try:
            with self._conn.cursor() as cur:
                if params is None:
                    with cur.copy(copy_sql) as copy:
                        data = b"".join(bytes(chunk) for chunk in copy)
                else:
                    with cur.copy(translate(copy_sql), list(params)) as copy:
                        data = b"".join(bytes(chunk) for chunk in copy)
        except psycopg.Error as exc:
            raise self._error(exc, sql) from exc
        names = [d.name for d in described]
        if not data:
            return pa.Table.from_arrays([pa.array([], type=t) for t in types], names=names)
        keys = [f"c{i}" for i in range(len(names))]  # a result may repeat a column name
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(data),
                read_options=pa_csv.ReadOptions(column_names=keys),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict(zip(keys, types, strict=True)),
                    null_values=[""],  # PostgreSQL writes NULL unquoted and empty, the empty string as ""
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["t"],
                    false_values=["f"],
                ),
            )
        except pa.ArrowInvalid:
            return None
        return table.rename_columns(names)

    def _fetch_rows(self, sql: str, params: Sequence[Any] | None) -> pa.Table:
        cur = self.execute(sql, params)
        if cur.description is None:
            return pa.table({})
        rows = cur.fetchall()
        cols = list(zip(*rows, strict=False)) if rows else [() for _ in cur.description]
        arrays = [_column(list(vals), _arrow_type(d)) for vals, d in zip(cols, cur.description, strict=False)]
        return pa.Table.from_arrays(arrays, names=[d.name for d in cur.description])

    def _write(self, schema: str | None, table: str, data: pa.Table, mode: WriteMode, temporary: bool) -> None:
        target = self.qualify(schema, table)
        names = data.column_names
        ddl = ", ".join(f"{quote_ident(n)} {_pg_type(f.type)}" for n, f in zip(names, data.schema, strict=False))
        with self.transaction():
            if schema:
                if not self._schema_exists(schema):
                    self.execute(f"create schema {quote_ident(schema)}")
                exists = self.table_exists(schema, table)
            else:
                exists = self._temp_exists(table)
            temp = "temp " if temporary else ""
            if mode == "replace" and exists:
                self.execute(f"drop table {target}")
            if mode != "append" or not exists:
                self.execute(f"create {temp}table {target} ({ddl})")
            if data.num_rows == 0:
                return
            cols = ", ".join(quote_ident(n) for n in names)
            csv = _as_csv(data)
            try:
                if csv is not None:  # columnar: pyarrow renders each batch as CSV, COPY takes the whole buffer
                    options = pa_csv.WriteOptions(include_header=False)
                    sql = f"copy {target} ({cols}) from stdin (format csv)"
                    with self._conn.cursor() as cur, cur.copy(sql) as copy:
                        for batch in csv.to_batches(max_chunksize=BATCH_ROWS):
                            out = pa.BufferOutputStream()
                            pa_csv.write_csv(batch, out, options)
                            copy.write(memoryview(out.getvalue()))
                else:
                    with self._conn.cursor() as cur, cur.copy(f"copy {target} ({cols}) from stdin") as copy:
                        for batch in data.to_batches(max_chunksize=BATCH_ROWS):
                            part = pa.Table.from_batches([batch])
                            for row in zip(*(_to_python(c) for c in part.columns), strict=False):
                                copy.write_row(row)
            except psycopg.Error as exc:
                raise self._error(exc, "copy") from exc
            if not temporary:
                self._filled[target] = self._filled.get(target, 0) + data.num_rows

    def _schema_exists(self, schema: str) -> bool:
        return self._any("select count(*) from pg_namespace where nspname = ?", [schema])

    def _temp_exists(self, table: str) -> bool:
        return self._any(
            "select count(*) from pg_class where relname = ? and relnamespace = pg_my_temp_schema()", [table]
        )

    def table_exists(self, schema: str, table: str) -> bool:
        # information_schema.tables hides tables the user has no privilege on; pg_class does not.
        return self._any(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = ? and c.relname = ? and c.relkind in ('r', 'v', 'm', 'p', 'f')",
            [schema, table],
        )

    def _begin(self) -> None:
        self.execute("begin")
        self._filled.clear()

    def _commit(self) -> None:
        # A table a bulk write created or filled has no statistics (or stale ones) until autovacuum gets to it,
        # after the next queries have been planned from a guess: analyze it before the commit. Small appends
        # (run logs) are left to autovacuum.
        for target, rows in self._filled.items():
            if rows >= ANALYZE_ROWS and self._any("select count(*) from pg_class where oid = to_regclass(?)", [target]):
                self.execute(f"analyze {target}")  # unless the transaction dropped it again
        self._filled.clear()
        self.execute("commit")

    def _rollback(self) -> None:
        if not self._conn.closed:
            self._conn.execute("rollback")

    def cursor(self) -> PostgresWarehouse:
        return open_postgres(self._url, self._read_only)

    def close(self) -> None:
        self._conn.close()

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def location(self) -> str:
        return mask(self._url)
