"""Read a table into a lazy Polars frame: connectorx for SQL databases, a lazy scan for Parquet.

A reader knows one source. `probe` returns the table's real schema (every name a rule uses is
checked against it); `scan` reads only the columns a ReadSpec asks for, optionally a random
sample or the newest partition window. Identifiers are quoted by SQLAlchemy's dialect preparer
and the window bound comes from a query result, so nothing from a rule file reaches SQL raw.
A faster per-source path (e.g. ADBC for PostgreSQL) is one more entry in READERS.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import connectorx as cx
import polars as pl
from sqlalchemy.dialects import mysql, postgresql, sqlite

import settings
from engine import cancel
from engine.errors import ReadCancelled, SchemaMismatch, SourceUnavailable
from engine.sources import Location, check_login, host_port, mask

_PREPARERS = {
    "sqlite": sqlite.dialect().identifier_preparer,
    "postgresql": postgresql.dialect().identifier_preparer,
    "mysql": mysql.dialect().identifier_preparer,
}
_RANDOM = {"sqlite": "RANDOM()", "postgresql": "RANDOM()", "mysql": "RAND()"}
CONNECT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class TableRef:
    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class Window:
    """Rows whose `column` is at least the newest value minus `lookback` (None: the newest value only)."""

    column: str
    lookback: timedelta | None = None


@dataclass(frozen=True)
class ReadSpec:
    table: TableRef
    columns: tuple[str, ...]
    sample_size: int | None = None
    window: Window | None = None
    distinct: bool = False


class Reader(Protocol):
    location: Location

    def probe(self, table: TableRef) -> pl.Schema: ...

    def scan(self, spec: ReadSpec) -> pl.LazyFrame: ...


def quote(dialect: str, name: str) -> str:
    return _PREPARERS[dialect].quote_identifier(name)


def lower_bound(newest: Any, lookback: timedelta | None) -> Any:
    """The window's first value: the newest value minus the lookback (dates and timestamps only)."""
    if lookback is None or newest is None:
        return newest
    if isinstance(newest, str) and len(newest) == 10:  # SQLite keeps dates as 'YYYY-MM-DD' text
        return (date.fromisoformat(newest) - lookback).isoformat()
    if isinstance(newest, str):
        parsed = datetime.fromisoformat(newest)
        bound = parsed - lookback
        return bound.isoformat(sep="T" if "T" in newest else " ")
    if isinstance(newest, datetime | date):
        return newest - lookback
    raise SchemaMismatch(
        f"partition lookback needs a date or timestamp column, got {type(newest).__name__}. "
        "Hint: drop partition_lookback to check only the newest partition value.")


def sql_literal(value: Any, dialect: str) -> str:
    """A SQL literal for a value that came from a query result (the partition window bound)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return repr(value) if not isinstance(value, Decimal) else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None and dialect != "postgresql":
            # MySQL and SQLite compare naive UTC text; only PostgreSQL understands the offset.
            value = value.astimezone(UTC).replace(tzinfo=None)
        text = value.isoformat(sep=" ")
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    escaped = text.replace("'", "''")
    if dialect == "mysql":
        escaped = escaped.replace("\\", "\\\\")
    return f"'{escaped}'"


# Driver messages of a statement ended by its timeout or cancelled (PostgreSQL, MariaDB).
_CANCELLED = ("canceling statement due to", "max_statement_time exceeded", "Query execution was interrupted")


class _DriverError(Exception):
    """A query failed in the driver; the message is already masked. Never leaves this module."""


class ConnectorxReader:
    """SQLite, PostgreSQL and MySQL/MariaDB through connectorx into Arrow, then Polars."""

    def __init__(self, location: Location, partitions: int | None = None) -> None:
        self.location = location
        self.dialect = location.dialect
        self.partitions = partitions if partitions is not None else settings.get("DQ_READ_PARTITIONS")
        self._reachable = False

    def _table_sql(self, table: TableRef) -> str:
        name = quote(self.dialect, table.name)
        return f"{quote(self.dialect, table.schema)}.{name}" if table.schema else name

    def _check_reachable(self) -> None:
        if self._reachable:
            return
        if self.dialect == "sqlite":
            path = self.location.url[len("sqlite://"):]  # normalise() made it absolute
            if not Path(path).is_file():
                raise SourceUnavailable(
                    f"source {self.location.source!r}: SQLite file {path} does not exist. "
                    "Hint: check the source URL (sqlite:////absolute/path.db).")
        else:
            address = host_port(self.location.url)
            assert address is not None
            try:
                socket.create_connection(address, timeout=CONNECT_TIMEOUT_SECONDS).close()
            except OSError as exc:
                raise SourceUnavailable(
                    f"source {self.location.source!r} at {self.location.masked()} is unreachable: {exc}. "
                    "Hint: check that the database is up and the host/port in the source URL.") from exc
            check_login(self.location, CONNECT_TIMEOUT_SECONDS)
        self._reachable = True

    def _read(self, sql: str, **options: Any) -> pl.DataFrame:
        """Run one query; a failure raises _DriverError carrying the driver's message, password masked."""
        self._check_reachable()
        url, sql = cancel.prepare(self.location, sql, partitioned="partition_on" in options)
        try:
            table = cx.read_sql(url, sql, return_type="arrow", **options)
        except BaseException as exc:  # connectorx raises RuntimeError, ValueError and pyo3 panics (BaseException)
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            text = mask(str(exc), self.location.url)
            if any(n in text for n in _CANCELLED):
                active = cancel.current()
                limit = f" longer than {active.seconds:g}s" if active is not None and active.seconds else ""
                raise ReadCancelled(
                    f"source {self.location.source!r}: the suite ran{limit} and was stopped: its read was "
                    f"ended in the source ({text}). Hint: raise the timeout (--timeout, "
                    "DQ_SUITE_TIMEOUT_SECONDS), enable sampling, or look for locks and slow queries on the table.") from exc
            raise _DriverError(text) from exc
        return pl.from_arrow(table)  # type: ignore[return-value]

    def query(self, sql: str, **options: Any) -> pl.DataFrame:
        try:
            return self._read(sql, **options)
        except _DriverError as exc:
            raise SourceUnavailable(
                f"source {self.location.source!r}: {exc}. "
                "Hint: check the source URL, the role's grants and that the table exists.") from exc

    def probe(self, table: TableRef) -> pl.Schema:
        try:
            return self._read(f"SELECT * FROM {self._table_sql(table)} LIMIT 0").schema
        except _DriverError as exc:
            raise SchemaMismatch(
                f"table {table} cannot be read from source {self.location.source!r}: {exc}. "
                "Hint: check the table and schema names in the suite (they are case-sensitive) "
                "and that the engine's role may SELECT from it.") from exc

    def _window_sql(self, spec: ReadSpec) -> str:
        if spec.window is None:
            return ""
        column = quote(self.dialect, spec.window.column)
        newest = self.query(f"SELECT MAX({column}) AS newest FROM {self._table_sql(spec.table)}").item()
        if newest is None:
            return " WHERE 1 = 0"
        bound = sql_literal(lower_bound(newest, spec.window.lookback), self.dialect)
        return f" WHERE {column} >= {bound}"

    def select_sql(self, spec: ReadSpec) -> str:
        columns = ", ".join(quote(self.dialect, c) for c in spec.columns)
        sql = f"SELECT {'DISTINCT ' if spec.distinct else ''}{columns} FROM {self._table_sql(spec.table)}"
        sql += self._window_sql(spec)
        if spec.sample_size is not None:
            sql += f" ORDER BY {_RANDOM[self.dialect]} LIMIT {int(spec.sample_size)}"
        return sql

    def scan(self, spec: ReadSpec) -> pl.LazyFrame:
        sql = self.select_sql(spec)
        options: dict[str, Any] = {}
        key = self._partition_key(spec)
        if key is not None:
            options = {"partition_on": key, "partition_num": self.partitions}
        frame = self.query(sql, **options)
        if key is not None and key not in spec.columns:
            frame = frame.drop(key)
        return frame.lazy()

    def _partition_key(self, spec: ReadSpec) -> str | None:
        """A NOT NULL integer primary-key column for connectorx's parallel read (NULL keys would be lost)."""
        if self.partitions <= 1 or self.dialect == "sqlite" or spec.sample_size or spec.distinct:
            return None
        if estimated_rows(self, spec.table) < settings.get("DQ_PARTITION_MIN_ROWS"):
            return None  # a parallel read costs a min/max query and more connections: not worth it when small
        key = primary_integer_key(self, spec.table)
        if key is None or key not in spec.columns:
            return None
        return key


# SQLite declared types by affinity-like substrings, first match wins (sqlite.org/datatype3.html).
_SQLITE_TYPES: list[tuple[tuple[str, ...], pl.DataType]] = [
    (("BOOL",), pl.Boolean()), (("DATETIME", "TIMESTAMP"), pl.Datetime("us")), (("DATE",), pl.Date()),
    (("INT",), pl.Int64()), (("CHAR", "CLOB", "TEXT"), pl.String()), (("BLOB",), pl.Binary()),
    (("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL"), pl.Float64()),
]


def sqlite_dtype(declared: str) -> pl.DataType:
    upper = declared.upper()
    for needles, dtype in _SQLITE_TYPES:
        if any(n in upper for n in needles):
            return dtype
    return pl.String()


class SqliteReader(ConnectorxReader):
    """connectorx infers SQLite types from the first row, so the declared types decide the schema.

    An all-NULL column defeats connectorx ("Cannot infer type from null"); such reads fall back to
    the standard library's sqlite3 (opened read-only) and are cast to the declared types.
    """

    def probe(self, table: TableRef) -> pl.Schema:
        self._check_reachable()
        if table.schema:
            raise SchemaMismatch(f"SQLite has no schema {table.schema!r} for table {table.name!r}. "
                                 "Hint: leave `schema:` out of suites on SQLite sources.")
        info = self.query(f"SELECT name, type FROM pragma_table_info({sql_literal(table.name, 'sqlite')})",
                          schema={"name": pl.String(), "type": pl.String()})
        if info.height == 0:
            raise SchemaMismatch(f"table {table} does not exist in source {self.location.source!r}. "
                                 "Hint: check the table name in the suite (it is case-sensitive).")
        return pl.Schema({name: sqlite_dtype(kind or "") for name, kind in info.iter_rows()})

    def query(self, sql: str, schema: Mapping[str, pl.DataType] | None = None, **options: Any) -> pl.DataFrame:
        try:
            return super().query(sql, **options)
        except SourceUnavailable as exc:
            if "infer type" not in str(exc):
                raise
        path = self.location.url[len("sqlite://"):]
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return pl.read_database(sql, conn, schema_overrides=dict(schema or {}), infer_schema_length=None)

    def scan(self, spec: ReadSpec) -> pl.LazyFrame:
        declared = self.probe(spec.table)
        wanted = {c: declared[c] for c in spec.columns if c in declared}
        frame = self.query(self.select_sql(spec), schema=wanted)
        # An empty read has no first row to infer from: cast what came out to the declared types.
        casts = [pl.col(c).cast(t, strict=False) for c, t in wanted.items() if frame.schema.get(c) != t]
        return (frame.with_columns(casts) if casts else frame).lazy()


def _schema_filter(reader: ConnectorxReader, table: TableRef, column: str) -> str:
    if table.schema:
        return f"{column} = {sql_literal(table.schema, reader.dialect)}"
    return f"{column} = " + ("current_schema()" if reader.dialect == "postgresql" else "DATABASE()")


def estimated_rows(reader: ConnectorxReader, table: TableRef) -> int:
    """The catalog's row estimate (PostgreSQL reltuples, MySQL table_rows): no scan, may be stale."""
    name = sql_literal(table.name, reader.dialect)
    if reader.dialect == "postgresql":
        sql = ("SELECT CAST(c.reltuples AS BIGINT) AS n FROM pg_class c JOIN pg_namespace s "
               f"ON s.oid = c.relnamespace WHERE c.relname = {name} AND {_schema_filter(reader, table, 's.nspname')}")
    else:
        sql = ("SELECT CAST(table_rows AS SIGNED) AS n FROM information_schema.tables "
               f"WHERE table_name = {name} AND {_schema_filter(reader, table, 'table_schema')}")
    frame = reader.query(sql)
    value = frame.item() if frame.height == 1 else None
    return max(int(value), 0) if value is not None else 0  # PostgreSQL says -1 before the first ANALYZE


def primary_integer_key(reader: ConnectorxReader, table: TableRef) -> str | None:
    """The single-column integer primary key of a PostgreSQL or MySQL table, if there is one."""
    sql = (
        "SELECT k.column_name AS name, c.data_type AS type FROM information_schema.table_constraints t "
        "JOIN information_schema.key_column_usage k ON k.constraint_name = t.constraint_name "
        "AND k.table_schema = t.table_schema AND k.table_name = t.table_name "
        "JOIN information_schema.columns c ON c.table_schema = k.table_schema "
        "AND c.table_name = k.table_name AND c.column_name = k.column_name "
        f"WHERE t.constraint_type = 'PRIMARY KEY' AND {_schema_filter(reader, table, 't.table_schema')} "
        f"AND t.table_name = {sql_literal(table.name, reader.dialect)}")
    keys = reader.query(sql)
    if keys.height != 1:
        return None
    name, kind = keys.row(0)
    return str(name) if str(kind).lower() in {"integer", "bigint", "smallint", "int", "tinyint", "mediumint"} else None


class ParquetReader:
    """Parquet under a base path or s3:// prefix: `<base>/<schema>/<table>.parquet` or a folder of files."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.dialect = "parquet"

    def candidates(self, table: TableRef) -> list[str]:
        base = self.location.url.rstrip("/")
        folder = f"{base}/{table.schema}" if table.schema else base
        return [f"{folder}/{table.name}.parquet", f"{folder}/{table.name}/**/*.parquet"]

    def _lazy(self, table: TableRef) -> tuple[pl.LazyFrame, pl.Schema]:
        if not self.location.url.startswith("s3://") and not Path(self.location.url).exists():
            raise SourceUnavailable(
                f"source {self.location.source!r}: Parquet base {self.location.url} does not exist. "
                "Hint: check the source URL (a folder or s3:// prefix).")
        problems = []
        for path in self.candidates(table):
            try:
                frame = pl.scan_parquet(path, hive_partitioning=True)
                return frame, frame.collect_schema()
            except Exception as exc:  # polars raises several kinds for a missing or unreadable path
                problems.append(f"{path}: {mask(str(exc).splitlines()[0].split(' Hint:')[0])}")
        raise SchemaMismatch(
            f"table {table} not found in Parquet source {self.location.source!r} "
            f"(tried {'; '.join(problems)}). Hint: put the table at <base>/<schema>/<table>.parquet "
            "or <base>/<schema>/<table>/*.parquet.")

    def probe(self, table: TableRef) -> pl.Schema:
        return self._lazy(table)[1]

    def scan(self, spec: ReadSpec) -> pl.LazyFrame:
        frame = self._lazy(spec.table)[0]
        if spec.window is not None:
            column = pl.col(spec.window.column)
            newest = frame.select(column.max()).collect().item()
            bound = lower_bound(newest, spec.window.lookback)
            frame = frame.filter(column >= bound) if bound is not None else frame.head(0)
        frame = frame.select(list(spec.columns))
        if spec.sample_size is not None:
            frame = frame.filter(pl.int_range(pl.len()).shuffle(seed=0) < spec.sample_size)
        return frame.unique() if spec.distinct else frame


READERS: dict[str, Callable[[Location], Reader]] = {
    "sqlite": SqliteReader,
    "postgresql": ConnectorxReader,
    "mysql": ConnectorxReader,
    "parquet": ParquetReader,
}


def reader_for(location: Location) -> Reader:
    return READERS[location.dialect](location)
