"""Read a table into a lazy Polars frame: connectorx for SQL databases, a lazy scan for Parquet.

A reader knows one source. `probe` returns the table's real schema (every name a rule uses is
checked against it); `scan` reads only the columns a ReadSpec asks for, optionally a random
sample or the newest partition window. Identifiers are quoted by SQLAlchemy's dialect preparer
and the window bound comes from a query result, so nothing from a rule file reaches SQL raw.
A faster per-source path (e.g. ADBC for PostgreSQL) is one more entry in READERS.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import polars as pl
import pyarrow as pa
from sqlalchemy.dialects import mysql, postgresql, sqlite

import settings
from engine import cancel, hints
from engine.coltypes import ColumnType, from_catalog, from_polars, from_sqlite
from engine.errors import ReadCancelled, SchemaMismatch, SourceNotConfigured, SourceUnavailable
from engine.sources import Location, check_login, host_port, libpq_url, mask

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
    partition_column: str | None = None  # the suite's `partition_column:`; None: picked from the catalog
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
    """The rows of one ReadSpec; `unreadable` columns (column -> reason) are absent from `frame`.

    `lazy_source` names the source when `frame` is a lazy scan (Parquet): each collect reads it again.
    """

    frame: pl.LazyFrame
    unreadable: Mapping[str, str] = field(default_factory=dict)
    lazy_source: str | None = None


# Scans of each source's rows (a SQL read of rows, a collect over a lazy Parquet scan), by source name.
# Catalog and LIMIT 0 schema queries are not scans. Read by tests and the benchmark: one per read.
SCANS: Counter[str] = Counter()


def collect(read: TableRead, *queries: pl.LazyFrame) -> list[pl.DataFrame]:
    """Run queries over one read's frame together (one scan of a lazy source, shared by pl.collect_all)."""
    if read.lazy_source is not None:
        SCANS[read.lazy_source] += 1
    return pl.collect_all(list(queries))


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

    def _read(self, sql: str | list[str], **options: Any) -> pl.DataFrame:
        """Run one query (or the partitions of one read, in parallel); a failure raises _DriverError
        carrying the driver's message, password masked."""
        self._check_reachable()
        queries = [sql] if isinstance(sql, str) else sql
        prepared = [cancel.prepare(self.location, q, partitioned=len(queries) > 1) for q in queries]
        try:
            return self._run(prepared[0][0], [q for _, q in prepared], **options)
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

    def _run(self, url: str, queries: list[str], **options: Any) -> pl.DataFrame:
        """connectorx into Arrow, then Polars; several queries are read over one connection each."""
        import connectorx as cx  # imported on first use: an ADBC-only run never loads its runtime

        table = cx.read_sql(url, queries[0] if len(queries) == 1 else queries, return_type="arrow", **options)
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
        SCANS[self.location.source] += 1
        try:
            frame, unreadable = self._fetch(spec)
        except _DriverError as exc:
            frame, unreadable = self._isolate(spec, exc)
        return TableRead(frame.lazy(), unreadable)

    def _fetch(self, spec: ReadSpec) -> tuple[pl.DataFrame, dict[str, str]]:
        column = self._partition_key(spec)
        queries = self.partition_sql(spec, column) if column is not None else [self.select_sql(spec)]
        return self._read(queries if len(queries) > 1 else queries[0]), {}

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
        """The column a parallel read splits on: the suite's `partition_column`, else an indexed NOT NULL
        integer or timestamp column from the catalog (the primary key first); None: one connection."""
        if (spec.partitions or self.partitions) <= 1 or self.dialect == "sqlite" or spec.sample_size or spec.distinct:
            return None
        if spec.hint is not None:  # connectorx rewrites a partitioned query and would drop or reject the hint
            return None
        # A rule's explicit parallel_degree is honoured whatever the size; the global setting only above it.
        if spec.partitions is None and estimated_rows(self, spec.table) < settings.get("DQ_PARTITION_MIN_ROWS"):
            return None  # a parallel read costs a min/max query and more connections: not worth it when small
        if spec.partition_column is None:
            return partition_candidate(self, spec.table)
        kind = self.describe(spec.table).declared.get(spec.partition_column)
        if kind is None or kind.family not in _PARTITION_FAMILIES:
            found = f"its type is {kind}" if kind is not None else "the table has no such column"
            raise SchemaMismatch(
                f"partition_column {spec.partition_column!r} of {spec.table} cannot split a parallel read: {found}. "
                "Hint: name an integer, date or timestamp column in the suite's `partition_column:`, or remove it "
                "to let the engine pick an indexed one from the catalog.")
        return spec.partition_column

    def partition_sql(self, spec: ReadSpec, column: str) -> list[str]:
        """The spec's read as one query per range of `column` (bounds from its MIN and MAX), plus one for
        its NULLs unless the catalog says NOT NULL. The ranges are half-open and the first and last are
        unbounded outwards, so a duplicate value is read once and a value outside MIN..MAX is not lost."""
        count = spec.partitions or self.partitions
        inner = replace(spec, columns=tuple(dict.fromkeys((*spec.columns, column))))
        base = self.select_sql(inner)
        q = quote(self.dialect, column)
        row = self.query(f"SELECT MIN(p.{q}) AS lo, MAX(p.{q}) AS hi FROM ({base}) AS p").row(0)
        outer = ", ".join(f"p.{quote(self.dialect, c)}" for c in spec.columns) or f"1 AS {quote(self.dialect, ROW_MARKER)}"
        select = f"SELECT {outer} FROM ({base}) AS p WHERE "
        bounds = [sql_literal(b, self.dialect) for b in split_points(row[0], row[1], count)]
        ranges = [f"p.{q} < {bounds[0]}"] if bounds else [f"p.{q} IS NOT NULL"]
        ranges += [f"p.{q} >= {lo} AND p.{q} < {hi}" for lo, hi in zip(bounds, bounds[1:], strict=False)]
        ranges += [f"p.{q} >= {bounds[-1]}"] if bounds else []
        if not not_null(self, spec.table, column):
            ranges.append(f"p.{q} IS NULL")
        return [select + r for r in ranges]


_PARTITION_FAMILIES = ("int", "date", "datetime")


def split_points(low: Any, high: Any, count: int) -> list[Any]:
    """The count - 1 inner bounds splitting [low, high] into equal ranges (integers, dates, timestamps),
    distinct and increasing; none when the range is empty or a single value."""
    if low is None or high is None or low == high or count <= 1:
        return []
    if isinstance(low, int):
        points = [low + (high - low) * k // count for k in range(1, count)]
    else:
        points = [low + (high - low) * k / count for k in range(1, count)]  # a date adds whole days
    return [p for i, p in enumerate(points) if low < p and (i == 0 or p > points[i - 1])]


# ---------------------------------------------------------------------------- ADBC (PostgreSQL)


class AdbcReader(ConnectorxReader):
    """PostgreSQL through ADBC's libpq driver (COPY ... TO STDOUT in binary, straight into Arrow).

    The queries are the connectorx reader's (quoting, windows, partitions, catalog), and so are the
    Polars types: ADBC's own Arrow types are converted to what connectorx delivers (numeric as
    Decimal(38, 10), uuid and json as text). The run's tag and statement timeout travel the same
    way: the SQL comment, and libpq's `options=-c statement_timeout=...` in the URL.
    """

    def _run(self, url: str, queries: list[str], **options: Any) -> pl.DataFrame:
        uri, timeout_ms = _without_timeout(libpq_url(url))
        if len(queries) == 1:
            return _adbc_frame(_adbc_fetch(uri, queries[0], timeout_ms))
        with ThreadPoolExecutor(max_workers=len(queries)) as pool:  # one connection per partition
            tables = list(pool.map(lambda q: _adbc_fetch(uri, q, timeout_ms), queries))
        return pl.concat([_adbc_frame(t) for t in tables], how="vertical_relaxed", rechunk=False)  # no copy


_TIMEOUT_OPTION = re.compile(r"-c\s*statement_timeout=(\d+)")
_DATABASES: dict[str, Any] = {}  # one ADBC database per URL: it loads PostgreSQL's type catalog once (~0.3 s)
_DATABASES_LOCK = threading.Lock()


def _without_timeout(uri: str) -> tuple[str, int | None]:
    """The URL without cancel.prepare's `options=-c statement_timeout=...`, and that timeout: ADBC
    sets it on each connection (SET statement_timeout), so one database serves every budget."""
    parts = urlsplit(uri)
    kept, timeout = [], None
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        found = _TIMEOUT_OPTION.search(value) if name == "options" else None
        if found is None:
            kept.append((name, value))
        else:
            timeout = int(found.group(1))
    return parts._replace(query=urlencode(kept)).geturl(), timeout


def _adbc_database(uri: str) -> Any:
    import adbc_driver_postgresql

    with _DATABASES_LOCK:
        if uri not in _DATABASES:
            _DATABASES[uri] = adbc_driver_postgresql.connect(uri)
        return _DATABASES[uri]


def _adbc_fetch(uri: str, sql: str, timeout_ms: int | None) -> pa.Table:
    """One query on its own connection (autocommit), under the run's statement timeout."""
    import adbc_driver_manager as adbc

    with adbc.AdbcConnection(_adbc_database(uri)) as conn:
        if timeout_ms is not None:
            with adbc.AdbcStatement(conn) as setting:
                setting.set_sql_query(f"SET statement_timeout = {int(timeout_ms)}")
                setting.execute_update()
        with adbc.AdbcStatement(conn) as statement:
            statement.set_sql_query(sql)
            stream, _ = statement.execute_query()
            return pa.RecordBatchReader._import_from_c(stream.address).read_all()


_NUMERIC = pl.Decimal(38, 10)  # connectorx's type for every PostgreSQL numeric, whatever its declaration


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, for years Python's datetime cannot hold."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


# PostgreSQL's 'infinity' and '-infinity' are its integer limits counted from 2000-01-01; ADBC moves
# them to 1970 with a wrapping add, giving values Polars cannot print (a panic). connectorx sends the
# dates below instead, and the engine shows them as text (checks.md): make ADBC's the same.
_LAST_DAY, _FIRST_DAY = _days_from_civil(262142, 12, 31), _days_from_civil(-262143, 1, 2)
_PER_DAY = {"us": 86_400_000_000, "ns": 86_400_000_000_000, "ms": 86_400_000}
_PG_EPOCH_DAYS, _PG_EPOCH_US = 10_957, 946_684_800_000_000
_WRAPPED = {32: (-(2**31) + _PG_EPOCH_DAYS - 1, -(2**31) + _PG_EPOCH_DAYS),
            64: (-(2**63) + _PG_EPOCH_US - 1, -(2**63) + _PG_EPOCH_US)}  # bits -> (infinity, -infinity)


def _infinity_as_connectorx(series: pl.Series) -> pl.Series:
    bits = 32 if series.dtype == pl.Date else 64
    physical = series.to_physical()
    top, bottom = _WRAPPED[bits]
    if getattr(series.dtype, "time_unit", "us") not in (None, "us"):
        return series  # ADBC's PostgreSQL driver delivers microseconds
    if not ((physical == top) | (physical == bottom)).any():
        return series
    per_day = 1 if series.dtype == pl.Date else _PER_DAY[getattr(series.dtype, "time_unit", None) or "us"]
    last = (_LAST_DAY + 1) * per_day - 1 if per_day > 1 else _LAST_DAY
    replaced = pl.select(pl.when(physical == top).then(last).when(physical == bottom).then(_FIRST_DAY * per_day)
                         .otherwise(physical).alias(series.name)).to_series()
    return replaced.cast(physical.dtype).cast(series.dtype)


def _adbc_frame(table: pa.Table) -> pl.DataFrame:
    """ADBC's Arrow table in connectorx's Polars types: its extension types (numeric, uuid, json and the
    types it does not know, as their text) by their storage, numeric parsed into a decimal."""
    columns: list[pl.Series] = []
    for position, arrow_field in enumerate(table.schema):
        values = table.column(position)
        kind = (arrow_field.metadata or {}).get(b"POSTGRESQL:type", b"").decode()
        if isinstance(arrow_field.type, pa.BaseExtensionType):
            values = pa.chunked_array([c.storage for c in values.chunks], type=arrow_field.type.storage_type)
        series = pl.Series(arrow_field.name, values)
        if kind == "numeric":
            series = series.cast(_NUMERIC)
        elif series.dtype in (pl.Date, pl.Datetime) or isinstance(series.dtype, pl.Datetime):
            series = _infinity_as_connectorx(series)
        elif kind == "uuid":
            hexed = series.bin.encode("hex")
            series = pl.select(pl.concat_str([hexed.str.slice(a, b - a) for a, b in _UUID_GROUPS], separator="-")
                               .alias(arrow_field.name)).to_series()
        columns.append(series)
    return pl.DataFrame(columns, schema=[(s.name, s.dtype) for s in columns]) if columns else pl.DataFrame()


_UUID_GROUPS = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))


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


def partition_candidate(reader: ConnectorxReader, table: TableRef) -> str | None:
    """An indexed NOT NULL integer, date or timestamp column (the index's leading column): the primary
    key first, then integers before timestamps, in table order. A range read on it uses the index."""
    name = sql_literal(table.name, reader.dialect)
    if reader.dialect == "postgresql":
        sql = ("SELECT CAST(a.attname AS TEXT) AS name, CAST(format_type(a.atttypid, NULL) AS TEXT) AS type, "
               "CAST(i.indisprimary AS INTEGER) AS pk, CAST(a.attnum AS INTEGER) AS position FROM pg_index i "
               "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace s ON s.oid = c.relnamespace "
               "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
               f"WHERE a.attnotnull AND c.relname = {name} AND {_schema_filter(reader, table, 's.nspname')}")
    else:
        sql = ("SELECT CAST(s.column_name AS CHAR) AS name, CAST(c.data_type AS CHAR) AS type, "
               "CAST(s.index_name = 'PRIMARY' AS SIGNED) AS pk, CAST(c.ordinal_position AS SIGNED) AS position "
               "FROM information_schema.statistics s JOIN information_schema.columns c "
               "ON c.table_schema = s.table_schema AND c.table_name = s.table_name AND c.column_name = s.column_name "
               f"WHERE s.seq_in_index = 1 AND c.is_nullable = 'NO' AND s.table_name = {name} "
               f"AND {_schema_filter(reader, table, 's.table_schema')}")
    found = []
    for column, kind, primary, position in reader.query(sql).iter_rows():
        family = from_catalog(reader.dialect, str(kind), None, None, None, None).family
        if family in _PARTITION_FAMILIES:
            found.append((-int(primary or 0), family != "int", int(position), str(column)))
    return min(found)[3] if found else None


def not_null(reader: ConnectorxReader, table: TableRef, column: str) -> bool:
    """Whether the catalog declares the column NOT NULL (a parallel read then needs no IS NULL part)."""
    sql = (f"SELECT CAST(is_nullable AS {'TEXT' if reader.dialect == 'postgresql' else 'CHAR'}) AS n "
           f"FROM information_schema.columns WHERE table_name = {sql_literal(table.name, reader.dialect)} "
           f"AND column_name = {sql_literal(column, reader.dialect)} AND {_schema_filter(reader, table, 'table_schema')}")
    frame = reader.query(sql)
    return frame.height == 1 and str(frame.item()).upper() == "NO"


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
        return TableRead(self.scan(spec), lazy_source=self.location.source)

    def scan(self, spec: ReadSpec) -> pl.LazyFrame:
        frame = self._lazy(spec.table)[0]
        if spec.window is not None:
            column = pl.col(spec.window.column)
            SCANS[self.location.source] += 1  # the window bound reads the column once more
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


READER_CHOICES = ("auto", "adbc", "connectorx")  # `reader:` of a source or suite; DQ_READER by default


def reader_for(location: Location, choice: str | None = None) -> Reader:
    """The reader of a source: `auto` takes ADBC for PostgreSQL and connectorx for the other databases."""
    setting = choice is None
    choice = str(settings.get("DQ_READER") if setting else choice).strip().lower()
    where = "the DQ_READER setting" if setting else "`reader:`"
    if choice not in READER_CHOICES:
        raise SourceNotConfigured(f"source {location.source!r}: unknown reader {choice!r} in {where}. "
                                  f"Hint: use one of {', '.join(READER_CHOICES)}.")
    if location.dialect == "parquet" and choice != "auto" and not setting:
        raise SourceNotConfigured(f"source {location.source!r} is Parquet, read by Polars' lazy scan, not {choice}. "
                                  "Hint: remove `reader:` from the source and suite (or write `reader: auto`).")
    if choice == "adbc" and location.dialect != "postgresql" and not setting:
        raise SourceNotConfigured(f"source {location.source!r} is {location.dialect}: the ADBC reader reads PostgreSQL "
                                  "only. Hint: write `reader: connectorx` or `reader: auto` for this source.")
    if location.dialect == "postgresql" and choice in ("auto", "adbc"):
        return AdbcReader(location)
    return READERS[location.dialect](location)
