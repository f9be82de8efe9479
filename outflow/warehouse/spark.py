"""The Apache Spark back end: a SparkSession in this process (pyspark). The only module that imports pyspark.

- One SparkSession per process, started on first use and kept until the process ends (starting one takes
  seconds); dbt-spark's ``session`` method finds the same session (``getOrCreate``), so the dbt build, the
  identity step and the syncs share one Spark application and one catalog.
- Locally: master ``local[2]`` (OUTFLOW_SPARK_MASTER), the tables as Parquet under OUTFLOW_SPARK_WAREHOUSE
  (default ``warehouse/spark``) with a Hive metastore (embedded Derby) beside them, so the tables outlive the
  process. On a cluster, point OUTFLOW_SPARK_MASTER at it (see docs/warehouses.md, "Spark").
- ``?`` placeholders are Spark's own positional parameters. Statements are read with the standard spelling:
  ``"name"`` is an identifier (backticks for Spark), ``varchar`` is ``string`` (see ``portable_types``).
- Timestamps are ``TIMESTAMP_NTZ`` in a UTC session, as DuckDB's ``timestamp``.
- Spark has no multi-statement transactions: :meth:`Warehouse.transaction` only groups statements here. Code
  that needs atomic state keeps it in a transactional state store (``activations/state.py``, docs/sync.md).
- Bad configuration (no Java, pyspark missing, a master that does not answer) is one line naming the fix.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from outflow import settings
from outflow.warehouse.base import QueryError, Warehouse, WarehouseError, WriteMode

MASTER_SETTING = "OUTFLOW_SPARK_MASTER"
WAREHOUSE_SETTING = "OUTFLOW_SPARK_WAREHOUSE"
DEFAULT_MASTER = "local[2]"
#: Small on purpose: the laptop and CI have two cores. A cluster sets its own (docs/warehouses.md).
LOCAL_CONF = {
    "spark.driver.host": "127.0.0.1",  # loopback only: a local Spark never listens on the network
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.sql.adaptive.enabled": "true",
}
#: The same on every deployment: the semantics the project's SQL relies on.
SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.sources.default": "parquet",
    "spark.sql.legacy.createHiveTableByDefault": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}

#: DuckDB functions the segment compiler writes (outflow/segments/compiler.py, portable_sql) that Spark spells
#: otherwise: SQL functions of the session, so generated models read the same on every target.
FUNCTIONS = [
    "create or replace temporary function starts_with(s string, prefix string) returns boolean "
    "return startswith(s, prefix)",
    "create or replace temporary function strpos(s string, part string) returns int return instr(s, part)",
]

_session: Any = None
_DELETE = re.compile(r"^\s*delete\s+from\s+([\w.\"`]+)\s*(?:where\s+(.*?))?\s*;?\s*$", re.IGNORECASE | re.DOTALL)


def master() -> str:
    return os.environ.get(MASTER_SETTING, "").strip() or DEFAULT_MASTER


def warehouse_dir() -> Path:
    """Where local Spark keeps its tables (Parquet) and its metastore (OUTFLOW_SPARK_WAREHOUSE)."""
    value = os.environ.get(WAREHOUSE_SETTING, "").strip()
    return Path(value).expanduser().resolve() if value else settings.PROJECT_ROOT / "warehouse" / "spark"


def check_java() -> None:
    """Raise one line when there is no Java 17+ for Spark to run on."""
    home = os.environ.get("JAVA_HOME", "").strip()
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).is_file():
        where = f"JAVA_HOME={home} has no bin/java" if home else "no `java` on PATH"
        raise WarehouseError(
            f"OUTFLOW_TARGET=spark needs Java 17 or later ({where}): install it (Debian: "
            "apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WarehouseError(
            f"OUTFLOW_TARGET=spark: {java} does not run ({exc}): reinstall Java 17 or fix JAVA_HOME"
        ) from None
    text = out.stderr + out.stdout
    version = text.split('"')[1] if '"' in text else ""
    major = version.split(".")[0]
    if major.isdigit() and int(major) < 17:
        raise WarehouseError(
            f"OUTFLOW_TARGET=spark needs Java 17 or later, {java} is {version}: install openjdk-17-jre-headless "
            "or point JAVA_HOME at a newer Java"
        )


def check_master(url: str) -> None:
    """A ``spark://host:port`` master must answer before Spark is started (Spark itself retries for minutes)."""
    if url.startswith("local"):
        return
    parts = urlsplit(url)
    if parts.scheme != "spark" or not parts.hostname:
        if url.startswith(("yarn", "k8s://")):
            return
        raise WarehouseError(
            f"{MASTER_SETTING}={url!r} is not a Spark master: use local[N], spark://host:port, yarn or k8s://..."
        )
    for host in url.removeprefix("spark://").split(","):  # a standby list: spark://h1:7077,h2:7077
        name, _, port = host.partition(":")
        try:
            with socket.create_connection((name, int(port or 7077)), timeout=5):
                return
        except (OSError, ValueError):
            continue
    raise WarehouseError(
        f"cannot reach the Spark master at {url} (nothing answers): start it, or fix {MASTER_SETTING} "
        f"(unset it for a local Spark)"
    )


def session() -> Any:
    """This process's SparkSession, started with Outflow's settings on first use."""
    global _session
    if _session is not None:
        return _session
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise WarehouseError(
            "OUTFLOW_TARGET=spark but pyspark is not installed: run `make setup` "
            "(or `pip install 'dbt-spark[session]' pyspark`)"
        ) from None
    url = master()
    check_master(url)
    check_java()
    root = warehouse_dir()
    root.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.appName("outflow").master(url)
    conf = {**(LOCAL_CONF if url.startswith("local") else {}), **SQL_CONF}
    conf["spark.sql.warehouse.dir"] = str(root / "tables")
    if url.startswith("local"):
        # the workers that run Python on the executors (the identity step) use this environment's Python
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # the metastore (embedded Derby) beside the tables, wherever the process runs
    metastore = root / "metastore_db"
    conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = f"jdbc:derby:;databaseName={metastore};create=true"
    conf["spark.driver.extraJavaOptions"] = f"-Dderby.system.home={root}"
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        _session = builder.enableHiveSupport().getOrCreate()
    except Exception as exc:  # py4j / JVM start-up failures carry pages of Java text
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise WarehouseError(
            f"cannot start Spark (master {url}, {WAREHOUSE_SETTING}={root}): {first}; check Java 17+ "
            f"(JAVA_HOME) and {MASTER_SETTING}"
        ) from None
    _session.sparkContext.setLogLevel("FATAL")  # errors reach the caller as QueryError
    # dbt-spark's session method runs its statements through this same object (getOrCreate): read them, and
    # ours, with the standard spelling the project's SQL uses (portable_types)
    _read_portable_sql(_session)
    return _session


def _read_portable_sql(spark: Any) -> None:
    spark_sql = spark.sql
    spark.sql = lambda query, *args, **kwargs: spark_sql(portable_types(query), *args, **kwargs)
    for statement in FUNCTIONS:
        spark_sql(statement)


def stop() -> None:
    """Stop this process's SparkSession (tests and benchmarks; the next use starts a new one)."""
    global _session
    if _session is not None:
        _session.stop()
        _session = None


def open_spark(read_only: bool = False) -> SparkWarehouse:
    return SparkWarehouse(session(), read_only)


class SparkResult:
    """The rows of one statement, collected (``execute`` is for small answers; use ``fetch_arrow`` for bulk)."""

    def __init__(self, rows: list[tuple], description: list[tuple]) -> None:
        self._rows = rows
        self._pos = 0
        self.description = description

    def fetchall(self) -> list[tuple]:
        out, self._pos = self._rows[self._pos :], len(self._rows)
        return out

    def fetchone(self) -> tuple | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int = 1) -> list[tuple]:
        out = self._rows[self._pos : self._pos + size]
        self._pos += len(out)
        return out


# string literals and comments are left as they are; a double-quoted name becomes a backticked one
_TOKENS = re.compile(r"('(?:[^'\\]|\\.|'')*'|--[^\n]*|/\*.*?\*/)|\"((?:[^\"]|\"\")*)\"", re.DOTALL)
_TYPES = re.compile(r"\bvarchar\s*\[\]|\bvarchar\b(?!\s*\()|\bdouble\s+precision\b|(?<=\bas )text\b", re.IGNORECASE)


def _spark_type(m: re.Match) -> str:
    found = m.group(0).lower()
    return "double" if found.startswith("double") else "array<string>" if found.endswith("]") else "string"


def _spark_types(sql: str) -> str:
    return _TYPES.sub(_spark_type, sql)


def portable_types(sql: str) -> str:
    """SQL as the rest of Outflow writes it (DuckDB's and PostgreSQL's spelling) in Spark's: ``"name"`` is
    ``name`` in backticks, ``varchar`` with no length is ``string``, ``double precision`` is ``double``. dbt's
    statements pass here too (see :func:`session`). String literals and comments are left alone."""
    out: list[str] = []
    pos = 0
    for m in _TOKENS.finditer(sql):
        out.append(_spark_types(sql[pos : m.start()]))
        if m.group(1) is not None:
            out.append(m.group(1))
        else:
            out.append("`" + m.group(2).replace('""', '"').replace("`", "``") + "`")
        pos = m.end()
    out.append(_spark_types(sql[pos:]))
    return "".join(out)


def _error(exc: Exception) -> QueryError:
    text = str(exc).strip()
    return QueryError(text.split("\n\nJVM stacktrace:")[0].strip() or type(exc).__name__)


class SparkWarehouse(Warehouse):
    target = "spark"
    dialect = "spark"

    def __init__(self, spark: Any, read_only: bool = False) -> None:
        self._spark = spark
        self._read_only = read_only

    @property
    def spark(self) -> Any:
        """The SparkSession, for DataFrame work that stays in Spark (the identity step's label propagation)."""
        return self._spark

    def sql(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """The statement as a Spark DataFrame (lazy for queries; DDL and writes run now)."""
        try:
            return self._spark.sql(sql, args=list(params)) if params else self._spark.sql(sql)
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                raise _error(exc) from exc
            raise

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> SparkResult:
        if _DELETE.match(sql):
            return self._delete(sql, params)
        df = self.sql(sql, params)
        try:
            rows = [tuple(r) for r in df.collect()]
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                raise _error(exc) from exc
            raise
        description = [(f.name, f.dataType.simpleString(), None, None, None, None, f.nullable) for f in df.schema]
        return SparkResult(rows, description)

    def _delete(self, sql: str, params: Sequence[Any] | None) -> SparkResult:
        """DELETE on a Parquet table (Spark deletes only from Delta and other v2 tables): the rows kept are
        materialised, then written over the table. Not atomic; fine for the small tables it serves."""
        m = _DELETE.match(sql)
        assert m is not None
        table, cond = m.group(1), m.group(2)
        if not cond:
            self.sql(f"truncate table {table}")
            return SparkResult([], [])
        kept = self.sql(f"select * from {table} where not coalesce({cond}, false)", params).localCheckpoint()
        try:
            kept.write.insertInto(portable_types(table), overwrite=True)
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                raise _error(exc) from exc
            raise
        return SparkResult([], [])

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            self.execute(sql, row)

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        df = self.sql(sql, params)
        try:
            table = df.toArrow()
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                raise _error(exc) from exc
            raise
        # Spark annotates computed columns with its own field metadata; the rows are what matter
        return table.replace_schema_metadata(None).cast(pa.schema([f.remove_metadata() for f in table.schema]))

    def fetch_arrow_batches(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[pa.RecordBatch]:
        table = self.fetch_arrow(sql, params)
        yield from table.to_batches(max_chunksize=65_536) or [pa.RecordBatch.from_pylist([], schema=table.schema)]

    def _write(self, schema: str | None, table: str, data: pa.Table, mode: WriteMode, temporary: bool) -> None:
        data = _spark_friendly(data)
        df = self._spark.createDataFrame(data) if data.num_columns else None
        if df is None:
            raise QueryError(f"write_arrow: {table} has no columns")
        if temporary:
            if mode == "create" and self._spark.catalog.tableExists(table):
                raise QueryError(f"temp table {table} already exists")
            if mode == "append" and self._spark.catalog.tableExists(table):
                df = self._spark.table(table).unionByName(df)
                df = df.localCheckpoint()  # the view must not read itself
            df.createOrReplaceTempView(table)
            return
        assert schema is not None
        self.create_schema(schema)
        name = self.qualify(schema, table)
        exists = self.table_exists(schema, table)
        if mode == "create" and exists:
            raise QueryError(f"table {schema}.{table} already exists")
        try:
            if mode == "append" and exists:
                columns = [c for c in self.columns(schema, table)]
                df.select(*columns).write.insertInto(name)
            else:
                if exists:
                    self.execute(f"drop table {name}")
                df.write.format("parquet").saveAsTable(name)
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                raise _error(exc) from exc
            raise

    def _begin(self) -> None:  # no multi-statement transactions on Spark (module docstring)
        pass

    def _commit(self) -> None:
        pass

    def _rollback(self) -> None:
        pass

    def qualify(self, schema: str | None, table: str) -> str:
        return f"{_tick(schema)}.{_tick(table)}" if schema else _tick(table)

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self._spark.catalog.tableExists(self.qualify(schema, table)))

    def columns(self, schema: str, table: str) -> dict[str, str]:
        if not self.table_exists(schema, table):
            return {}
        return {c.name: c.dataType.lower() for c in self._spark.catalog.listColumns(self.qualify(schema, table))}

    def tables(self, schema: str) -> list[str]:
        if not self._spark.catalog.databaseExists(schema):
            return []
        return sorted(t.name for t in self._spark.catalog.listTables(schema) if not t.isTemporary)

    def create_schema(self, schema: str) -> None:
        self.execute(f"create schema if not exists {_tick(schema)}")

    def cursor(self) -> SparkWarehouse:
        spark = self._spark.newSession()
        _read_portable_sql(spark)
        return SparkWarehouse(spark, self._read_only)

    def close(self) -> None:
        """Nothing to close: the SparkSession lives as long as the process (see :func:`stop`)."""

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def location(self) -> str:
        return f"Spark {self._spark.sparkContext.master} ({self._spark.conf.get('spark.sql.warehouse.dir')})"


def _tick(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_friendly(data: pa.Table) -> pa.Table:
    """Arrow types Spark cannot take as they are, as the nearest ones it can (views, unsigned, dictionaries)."""
    fields = []
    for f in data.schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_string_view(t) or pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            t = pa.binary()
        elif pa.types.is_uint8(t):
            t = pa.int16()
        elif pa.types.is_uint16(t):
            t = pa.int32()
        elif pa.types.is_uint32(t):
            t = pa.int64()
        elif pa.types.is_uint64(t):
            t = pa.decimal128(20, 0)
        elif pa.types.is_null(t):
            t = pa.string()
        elif pa.types.is_timestamp(t) and t.tz is not None:
            t = pa.timestamp("us")
        elif pa.types.is_timestamp(t) and t.unit == "ns":
            t = pa.timestamp("us")
        fields.append(pa.field(f.name, t))
    target = pa.schema(fields)
    return data if target.equals(data.schema) else data.cast(target)
