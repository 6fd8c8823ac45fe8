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
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import connectorx as cx
import polars as pl
from sqlalchemy.dialects import mysql, postgresql, sqlite

import settings
from engine import cancel, hints
from engine.coltypes import ColumnType, from_catalog, from_polars, from_sqlite
from engine.errors import ReadCancelled, SchemaMismatch, SourceUnavailable
from engine.sources import Location, check_login, host_port, mask

_PREPARERS = {
    "sqlite": sqlite.dialect().identifier_preparer,
    "postgresql": postgresql.dialect().identifier_preparer,
    "mysql": mysql.dialect().identifier_preparer,
}
_RANDOM = {"sqlite": "RANDOM()", "postgresql": "RANDOM()", "mysql": "RAND()"}
CONNECT_TIMEOUT_SECONDS = 5.0
ROW_MARKER = "__dq_row"  # the one column of a read that needs no column of the table (row counts)


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
    partitions: int | None = None  # the runbook's parallel_degree of its rules; None: DQ_READ_PARTITIONS
    hint: hints.TableHint | None = None  # the runbook's use_index/query_hint, checked against the catalog


@dataclass(frozen=True)
class TableSchema:
    """A table as the engine sees it before reading rows.

    `schema` has every column (an unreadable one as pl.Null), `declared` the catalog's declaration
    of each column, `unreadable` why a column cannot be read at all (a type the driver lacks).
    """

    schema: pl.Schema
    declared: Mapping[str, ColumnType] = field(default_factory=dict)
    unreadable: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableRead:
    """The rows of one ReadSpec; `unreadable` columns (column -> reason) are absent from `frame`."""

    frame: pl.LazyFrame
    unreadable: Mapping[str, str] = field(default_factory=dict)


class Reader(Protocol):
    location: Location

    def probe(self, table: TableRef) -> pl.Schema: ...

    def describe(self, table: TableRef) -> TableSchema: ...

    def read(self, spec: ReadSpec) -> TableRead: ...


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


_CAST_HINT = ("Hint: read it through a view that casts it to a type the engine reads "
              "(e.g. CAST(x AS double precision) or CAST(x AS text)), or fix the offending values")
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
        """The table's columns and Polars types (an unreadable column as pl.Null)."""
        return self.describe(table).schema

    def describe(self, table: TableRef) -> TableSchema:
        declared = self._declared(table)
        try:
            schema = self._read(f"SELECT * FROM {self._table_sql(table)} LIMIT 0").schema
            return TableSchema(schema, declared)
        except _DriverError as exc:
            problem = SchemaMismatch(
                f"table {table} cannot be read from source {self.location.source!r}: {exc}. "
                "Hint: check the table and schema names in the suite (they are case-sensitive) "
                "and that the engine's role may SELECT from it.")
            if not declared:
                raise problem from exc
        # The table exists but one column's type defeats the driver: find it, keep the others.
        fields: dict[str, pl.DataType] = {}
        unreadable: dict[str, str] = {}
        for name, kind in declared.items():
            try:
                fields[name] = self._read(f"SELECT {quote(self.dialect, name)} FROM {self._table_sql(table)} LIMIT 0").schema[name]
            except _DriverError as exc:
                fields[name] = pl.Null()
                unreadable[name] = f"the driver cannot read its type {kind} ({exc}). {_CAST_HINT}"
        if not unreadable:
            raise problem
        return TableSchema(pl.Schema(fields), declared, unreadable)

    def _declared(self, table: TableRef) -> dict[str, ColumnType]:
        """Each column's declaration from information_schema (precision, scale, length, zone), in table order."""
        text, number = ("TEXT", "INTEGER") if self.dialect == "postgresql" else ("CHAR", "SIGNED")
        column_type = "CAST(column_type AS CHAR)" if self.dialect == "mysql" else "CAST(NULL AS TEXT)"
        sql = (f"SELECT CAST(column_name AS {text}) AS name, CAST(data_type AS {text}) AS data_type, "
               f"{column_type} AS column_type, CAST(character_maximum_length AS {number}) AS length, "
               f"CAST(numeric_precision AS {number}) AS num_precision, CAST(numeric_scale AS {number}) AS num_scale "
               f"FROM information_schema.columns WHERE table_name = {sql_literal(table.name, self.dialect)} "
               f"AND {_schema_filter(self, table, 'table_schema')} ORDER BY ordinal_position")
        try:
            rows = self._read(sql).iter_rows()
        except _DriverError:
            return {}  # the catalog is not readable: the schema check falls back to the Polars types
        return {str(name): from_catalog(self.dialect, data_type or "", column_type, length, precision, scale)
                for name, data_type, column_type, length, precision, scale in rows}

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
        columns = ", ".join(quote(self.dialect, c) for c in spec.columns) or f"1 AS {quote(self.dialect, ROW_MARKER)}"
        hint = hints.select_prefix(spec.hint, self.dialect, spec.table.name)
        sql = (f"SELECT {hint}{'DISTINCT ' if spec.distinct else ''}{columns} FROM {self._table_sql(spec.table)}"
               f"{hints.table_suffix(spec.hint, self.dialect)}")
        sql += self._window_sql(spec)
        if spec.sample_size is not None:
            sql += f" ORDER BY {_RANDOM[self.dialect]} LIMIT {int(spec.sample_size)}"
        return sql

    def scan(self, spec: ReadSpec) -> pl.LazyFrame:
        """The rows of `spec`; any unreadable column raises (read() isolates it instead)."""
        result = self.read(spec)
        if result.unreadable:
            column, reason = next(iter(result.unreadable.items()))
            raise SchemaMismatch(f"column {column!r} of {spec.table} cannot be read: {reason}")
        return result.frame

    def read(self, spec: ReadSpec) -> TableRead:
        """One read of the spec's columns; a column the driver cannot read is left out and named."""
        try:
            frame, unreadable = self._fetch(spec)
        except _DriverError as exc:
            frame, unreadable = self._isolate(spec, exc)
        return TableRead(frame.lazy(), unreadable)

    def _fetch(self, spec: ReadSpec) -> tuple[pl.DataFrame, dict[str, str]]:
        sql = self.select_sql(spec)
        options: dict[str, Any] = {}
        key = self._partition_key(spec)
        if key is not None:
            options = {"partition_on": key, "partition_num": spec.partitions or self.partitions}
        frame = self._read(sql, **options)
        if key is not None and key not in spec.columns:
            frame = frame.drop(key)
        return frame, {}

    def _isolate(self, spec: ReadSpec, error: _DriverError) -> tuple[pl.DataFrame, dict[str, str]]:
        """The read failed: read each column alone to find the culprits, then the others together.

        The diagnosis reads every row of the window (no sample: a sample could miss the bad row).
        """
        unreadable: dict[str, str] = {}
        if len(spec.columns) > 1:
            for column in spec.columns:
                try:
                    self._fetch(replace(spec, columns=(column,), sample_size=None))
                except _DriverError as exc:
                    unreadable[column] = f"the driver cannot read its values ({exc}). {_CAST_HINT}"
        elif spec.columns:
            unreadable[spec.columns[0]] = f"the driver cannot read its values ({error}). {_CAST_HINT}"
        if not unreadable:  # no single column is to blame (the connection, the table): every rule errors
            raise SourceUnavailable(
                f"source {self.location.source!r}: reading {spec.table} failed: {error}. "
                "Hint: check the source URL, the role's grants and that the table exists.")
        rest = replace(spec, columns=tuple(c for c in spec.columns if c not in unreadable))
        try:
            frame, more = self._fetch(rest)
        except _DriverError as exc:
            raise SourceUnavailable(f"source {self.location.source!r}: reading {spec.table} failed: {exc}. "
                                    "Hint: check the source and the table.") from exc
        return frame, unreadable | more

    def _partition_key(self, spec: ReadSpec) -> str | None:
        """A NOT NULL integer primary-key column for connectorx's parallel read (NULL keys would be lost)."""
        if (spec.partitions or self.partitions) <= 1 or self.dialect == "sqlite" or spec.sample_size or spec.distinct:
            return None
        if spec.hint is not None:  # connectorx rewrites a partitioned query and would drop or reject the hint
            return None
        # A rule's explicit parallel_degree is honoured whatever the size; the global setting only above it.
        if spec.partitions is None and estimated_rows(self, spec.table) < settings.get("DQ_PARTITION_MIN_ROWS"):
            return None  # a parallel read costs a min/max query and more connections: not worth it when small
        key = primary_integer_key(self, spec.table)
        if key is None or key not in spec.columns:
            return None
        return key


# ---------------------------------------------------------------------------- SQLite

_MAX_DECIMAL_PRECISION = 38  # Polars' Decimal; wider SQLite declarations are read as Float64
_AWARE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_EXAMPLES = 3


def sqlite_dtype(declared: str) -> pl.DataType:
    """The Polars type a SQLite declaration is read as (the declaration decides, not the stored values)."""
    return _dtype_of(from_sqlite(declared))


def _dtype_of(kind: ColumnType) -> pl.DataType:
    if kind.family == "decimal" and kind.precision is not None and kind.precision <= _MAX_DECIMAL_PRECISION:
        return pl.Decimal(kind.precision, kind.scale or 0)
    return {
        "bool": pl.Boolean(), "date": pl.Date(), "int": pl.Int64(), "binary": pl.Binary(),
        "datetime": pl.Datetime("us", "UTC") if kind.tz else pl.Datetime("us"),
        "float": pl.Float64(), "decimal": pl.Float64(),
    }.get(kind.family, pl.String())


def _storage(dtype: pl.DataType) -> str:
    """Which storage classes a column of this type accepts: integer, number, blob or text."""
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return "number"
    return "blob" if dtype == pl.Binary else "text"


def _sqlite_value(q: str, storage: str) -> tuple[str, str, str | None]:
    """(value SQL, typed first-row value, SQL of the raw text of a value of the wrong storage class or None).

    connectorx types a SQLite column from its first row, and fails when a later row holds another
    storage class ("Invalid column type Real"), or the first row is NULL. Every column is therefore
    read through an expression of one storage class, after a first row of typed placeholders.
    """
    if storage in ("integer", "bool"):  # a boolean is any integer, as in SQLite: non-zero is true
        return (f"CASE WHEN typeof({q}) = 'integer' THEN {q} END", "0",
                f"CASE WHEN typeof({q}) NOT IN ('integer', 'null') THEN CAST({q} AS TEXT) END")
    if storage == "number":
        return (f"CASE WHEN typeof({q}) IN ('integer', 'real') THEN CAST({q} AS REAL) END", "0.0",
                f"CASE WHEN typeof({q}) IN ('text', 'blob') THEN CAST({q} AS TEXT) END")
    if storage == "blob":
        return f"CAST({q} AS BLOB)", "X''", None
    return f"CAST({q} AS TEXT)", "''", None


def _parse_timestamps(text: pl.Series, dtype: pl.Datetime) -> pl.Series:
    """ISO 8601 text (space or T, optional fraction, optional offset or Z) as the declared kind of timestamp.

    With an offset the value is an instant; an aware column keeps it in UTC, a naive column gets its
    UTC wall-clock time. Without an offset the value is wall-clock time (UTC for an aware column).
    `text` is already cleaned (`_clean`). Formats are tried in turn on what is still unparsed, so a
    column written in one format costs one parse (a column of NULLs parses in no time).
    """
    frame = text.to_frame("t")
    parsed: pl.Series | None = None
    forms = [(_NAIVE_FORMATS[0], False), *((f, True) for f in _AWARE_FORMATS), *((f, False) for f in _NAIVE_FORMATS[1:])]
    for form, aware in forms:
        rest = pl.col("t") if parsed is None else pl.when(pl.lit(parsed).is_null()).then(pl.col("t"))
        attempt = rest.str.to_datetime(form, strict=False, time_unit="us", time_zone="UTC" if aware else None)
        if aware and not dtype.time_zone:
            attempt = attempt.dt.replace_time_zone(None)
        elif not aware and dtype.time_zone:
            attempt = attempt.dt.replace_time_zone("UTC")
        step = frame.select(attempt.alias("t")).to_series()
        parsed = step if parsed is None else parsed.fill_null(step)
        if parsed.null_count() == text.null_count():
            break
    assert parsed is not None
    return parsed.alias(text.name)


def _clean(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars().str.replace("T", " ", literal=True).str.replace("Z", "+00:00", literal=True)


_TEXT, _VALUE, _BAD = "__dq_text:", "__dq_value:", "__dq_bad:"


def _parsed(dtype: pl.DataType) -> bool:
    """Whether the column is read as text and parsed in Polars (timestamps and dates)."""
    return isinstance(dtype, pl.Datetime) or dtype == pl.Date


def _value(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column in its declared type (NULL where a value does not convert)."""
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return pl.col(_VALUE + name)  # parsed eagerly, column by column, in SqliteReader._typed
    if dtype == pl.Date:
        return pl.col(_TEXT + name).str.to_date("%Y-%m-%d", strict=False)
    if _storage(dtype) in ("integer", "bool"):
        return column.cast(dtype)
    if isinstance(dtype, pl.Decimal):
        return column.cast(dtype, strict=False)  # beyond the declared precision: NULL, reported by _bad
    return column


def _bad(name: str, dtype: pl.DataType) -> pl.Expr:
    """The raw text of each value that is not of the column's type, else NULL."""
    column, value, raw = pl.col(name), pl.col(_VALUE + name), pl.col(f"__dq_raw:{name}")
    if _parsed(dtype):
        return pl.when(column.is_not_null() & value.is_null()).then(column)
    if isinstance(dtype, pl.Decimal):
        return pl.coalesce([raw, pl.when(column.is_not_null() & value.is_null()).then(column.cast(pl.String))])
    if _storage(dtype) in ("integer", "bool", "number"):
        return raw
    return pl.lit(None, pl.String)


def _describe_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "a timestamp with time zone (ISO 8601 text)" if dtype.time_zone else "a timestamp (ISO 8601 text)"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    return {"Date": "a date (YYYY-MM-DD)", "Int64": "an integer", "Float64": "a number",
            "Boolean": "a boolean (an integer, non-zero is true)"}.get(str(dtype), str(dtype))


class SqliteReader(ConnectorxReader):
    """SQLite through connectorx, every column read by its declared type whatever its rows store.

    SQLite keeps a storage class per value, not per column: a NUMERIC(18,4) column holds INTEGER 10
    and REAL 0.1, a TIMESTAMPTZ column ISO text with offsets. Each column is read as one storage
    class and converted in Polars; a value that is not of its column's type (the text 'abc' in a
    NUMERIC column, 'yesterday' in a TIMESTAMP column) makes that column unreadable for this run
    (its rules ERROR, naming the column, the count and examples), never the whole read.
    """

    def describe(self, table: TableRef) -> TableSchema:
        self._check_reachable()
        if table.schema:
            raise SchemaMismatch(f"SQLite has no schema {table.schema!r} for table {table.name!r}. "
                                 "Hint: leave `schema:` out of suites on SQLite sources.")
        info = self.query(f"SELECT name, type FROM pragma_table_info({sql_literal(table.name, 'sqlite')})",
                          schema={"name": pl.String(), "type": pl.String()})
        if info.height == 0:
            raise SchemaMismatch(f"table {table} does not exist in source {self.location.source!r}. "
                                 "Hint: check the table name in the suite (it is case-sensitive).")
        rows = list(info.iter_rows())
        declared = {name: from_sqlite(kind or "") for name, kind in rows}
        untyped = [name for name, kind in rows if not (kind or "").strip()]
        if untyped:
            declared |= self._stored_types(table, untyped)
        return TableSchema(pl.Schema({name: _dtype_of(kind) for name, kind in declared.items()}), declared)

    def _stored_types(self, table: TableRef, columns: list[str]) -> dict[str, ColumnType]:
        """Columns without a declared type (`CREATE TABLE ... AS SELECT SUM(x) ...`) by what they store:
        integers only -> int, any real -> float, any text or blob -> string (also when all NULL)."""
        parts = []
        for i, name in enumerate(columns):
            q = quote("sqlite", name)
            parts += [f"MAX(typeof({q}) IN ('text', 'blob')) AS t{i}", f"MAX(typeof({q}) = 'real') AS r{i}",
                      f"MAX(typeof({q}) = 'integer') AS n{i}"]
        found = self.query(f"SELECT {', '.join(parts)} FROM {self._table_sql(table)}").row(0)
        kinds = {}
        for i, name in enumerate(columns):
            text, real, integer = (bool(v) for v in found[3 * i:3 * i + 3])
            family = "string" if text or not (real or integer) else "float" if real else "int"
            kinds[name] = ColumnType(family, declared=f"(none: {family} values stored)")
        return kinds

    def query(self, sql: str, schema: Mapping[str, pl.DataType] | None = None, **options: Any) -> pl.DataFrame:
        try:
            return super().query(sql, **options)
        except SourceUnavailable as exc:
            if "infer type" not in str(exc):
                raise
        # A one-row aggregate with a NULL result (MAX over an empty table) gives connectorx nothing to type.
        path = self.location.url[len("sqlite://"):]
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return pl.read_database(sql, conn, schema_overrides=dict(schema or {}), infer_schema_length=None)

    def _window_sql(self, spec: ReadSpec) -> str:
        """Timestamps and dates are compared as instants (julianday), not as text: '09:30+02:00'
        is earlier than '08:00Z', and 'T' sorts after ' '. Other columns compare as stored."""
        window = spec.window
        kind = self.describe(spec.table).declared.get(window.column) if window is not None else None
        if window is None or kind is None or kind.family not in ("datetime", "date"):
            return super()._window_sql(spec)
        instant = f"julianday({quote('sqlite', window.column)})"
        newest = self.query(f"SELECT MAX({instant}) AS newest FROM {self._table_sql(spec.table)}").item()
        if newest is None:
            return " WHERE 1 = 0"
        days = window.lookback.total_seconds() / 86400 if window.lookback is not None else 0.0
        return f" WHERE {instant} >= {float(newest) - days!r}"

    def _fetch(self, spec: ReadSpec) -> tuple[pl.DataFrame, dict[str, str]]:
        declared = self.describe(spec.table).schema
        wanted = {c: declared[c] for c in spec.columns if c in declared}
        plain = self._plain(spec, wanted)
        if plain is not None:
            return plain, {}
        first, rest = ['1 AS "__dq_typed"'], ["0"]
        for name, dtype in wanted.items():
            q = quote("sqlite", name)
            value, placeholder, raw = _sqlite_value(q, _storage(dtype))
            first.append(f"{placeholder} AS {q}")
            rest.append(value)
            if raw is not None:
                first.append(f"'' AS {quote('sqlite', '__dq_raw:' + name)}")
                rest.append(raw)
        if not wanted:
            first.append(f"0 AS {quote('sqlite', ROW_MARKER)}")
            rest.append(quote("sqlite", ROW_MARKER))
        sql = (f"SELECT {', '.join(first)} UNION ALL SELECT {', '.join(rest)} "
               f"FROM ({self.select_sql(spec)}) AS \"__dq_rows\"")
        raw_frame = self._read(sql).filter(pl.col("__dq_typed") == 0).drop("__dq_typed")
        return self._typed(raw_frame, wanted, spec)

    def _plain(self, spec: ReadSpec, wanted: Mapping[str, pl.DataType]) -> pl.DataFrame | None:
        """connectorx's own read when it delivers every column in its declared type, else None.

        connectorx parses INTEGER, REAL, TEXT, BOOLEAN, DATE and DATETIME columns itself and refuses
        any value of another storage class or format (an offset, a date without time, 'abc'), so a
        read that succeeds with the declared types is exact, and as fast as connectorx gets. It never
        delivers an aware timestamp: a TIMESTAMPTZ column always takes the typed read.
        """
        if not wanted or any(isinstance(t, pl.Datetime) and t.time_zone for t in wanted.values()):
            return None
        try:
            frame = self._read(self.select_sql(spec))
        except _DriverError:
            return None
        casts = []
        for name, dtype in wanted.items():
            got = frame.schema.get(name)
            if got == dtype:
                continue
            numbers = got is not None and (got.is_integer() or got == pl.Float64)
            if numbers and (isinstance(dtype, pl.Decimal) or dtype == pl.Float64):
                casts.append(name)
                continue
            return None
        if casts:
            converted = frame.with_columns(pl.col(c).cast(wanted[c], strict=False) for c in casts)
            if any(converted[c].null_count() != frame[c].null_count() for c in casts):
                return None  # a value beyond the declared precision: the typed read names it
            frame = converted
        return frame.select(list(wanted))

    def _typed(self, frame: pl.DataFrame, wanted: Mapping[str, pl.DataType],
               spec: ReadSpec) -> tuple[pl.DataFrame, dict[str, str]]:
        """The frame in the declared types, and each column with values that are not of its type."""
        if not wanted:
            return frame, {}
        # Stages, so that no expression is computed twice: clean the text to parse, convert every
        # column, then keep each column in its type and the raw text of what did not convert.
        texts = [_clean(pl.col(n)).alias(_TEXT + n) for n, t in wanted.items() if _parsed(t)]
        values = [_value(n, t).alias(_VALUE + n) for n, t in wanted.items()]
        final = [pl.col(_VALUE + n).alias(n) for n in wanted] + [_bad(n, t).alias(_BAD + n) for n, t in wanted.items()]
        staged = frame.lazy().with_columns(texts).collect()
        stamps = [_parse_timestamps(staged[_TEXT + n], t).alias(_VALUE + n)
                  for n, t in wanted.items() if isinstance(t, pl.Datetime)]
        frame = staged.with_columns(stamps).with_columns(
            [v for v, (n, t) in zip(values, wanted.items(), strict=True) if not isinstance(t, pl.Datetime)]
        ).select(final)
        checks = []
        for name in wanted:
            bad = pl.col(_BAD + name)
            checks += [bad.is_not_null().sum().alias(f"n:{name}"),
                       bad.drop_nulls().unique(maintain_order=True).head(_EXAMPLES).implode().alias(f"e:{name}")]
        found = frame.select(checks).row(0, named=True)
        unreadable = {}
        for name, dtype in wanted.items():
            count = int(found[f"n:{name}"] or 0)
            if count:
                shown = list(found[f"e:{name}"])
                examples = ", ".join(repr(e[:40]) for e in shown)
                literals = ", ".join(sql_literal(e, "sqlite") for e in shown)
                unreadable[name] = (
                    f"{count:,} of {frame.height:,} rows hold values that cannot be read as {_describe_type(dtype)} "
                    f"(e.g. {examples}). Hint: find them with SELECT rowid, {quote('sqlite', name)} FROM "
                    f"{self._table_sql(spec.table)} WHERE {quote('sqlite', name)} IN ({literals}); "
                    "correct or delete them, or declare the column TEXT and check it with regex")
        keep = [c for c in wanted if c not in unreadable]
        if not keep:  # every column is unreadable: keep the row count for rules that need no column
            return pl.DataFrame({ROW_MARKER: pl.zeros(frame.height, dtype=pl.Int8, eager=True)}), unreadable
        return frame.select(keep), unreadable


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

    def describe(self, table: TableRef) -> TableSchema:
        schema = self.probe(table)
        return TableSchema(schema, {name: from_polars(dtype) for name, dtype in schema.items()})

    def read(self, spec: ReadSpec) -> TableRead:
        return TableRead(self.scan(spec))

    def scan(self, spec: ReadSpec) -> pl.LazyFrame:
        frame = self._lazy(spec.table)[0]
        if spec.window is not None:
            column = pl.col(spec.window.column)
            newest = frame.select(column.max()).collect().item()
            bound = lower_bound(newest, spec.window.lookback)
            frame = frame.filter(column >= bound) if bound is not None else frame.head(0)
        frame = frame.select(list(spec.columns) or [pl.first().is_null().alias(ROW_MARKER)])
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
