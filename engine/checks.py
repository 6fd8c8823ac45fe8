"""The flat table of check types: parameters, kind, sentence and the function building its Polars expressions.

Row-level checks ("row", "reference") yield a Polars expression that is True for a row that
passes; the engine counts the in-scope rows where it is False. Aggregate checks ("aggregate")
yield one aggregate expression whose value is compared with bounds; "schema" compares the
table's real columns and types without reading rows. Every check states its NULL policy.
Exact semantics per check, with worked examples: docs/checks.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from engine import sqlforms
from engine.coltypes import ColumnType, from_polars, matches, parse_expected
from engine.durations import parse_duration
from engine.errors import CheckFailedToRun, SchemaMismatch
from engine.sqlforms import SqlBuild


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    required: bool = False
    doc: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lookup:
    """Values a check needs from another table (or source): one column, or only its rows (column None)."""

    source: str
    table: str  # `schema.table` or `table`
    column: str | None
    distinct: bool = False


@dataclass(frozen=True)
class Context:
    """What a check may know when it compiles: the table's real schema, the dialect and the rule's scope."""

    schema: pl.Schema
    dialect: str
    where: pl.Expr | None = None  # the rule's `where:` filter (None: every row is in scope)
    references: Mapping[Lookup, pl.Series] = field(default_factory=dict)
    source: str = ""
    now: datetime = datetime.min  # aware UTC evaluation time (freshness)
    declared: Mapping[str, ColumnType] = field(default_factory=dict)  # the catalog's declarations (schema)

    @property
    def scope(self) -> pl.Expr:
        return pl.lit(True) if self.where is None else self.where

    def scoped(self, expr: pl.Expr) -> pl.Expr:
        """The expression's values on in-scope rows (no filter at all without `where:`)."""
        return expr if self.where is None else expr.filter(self.where)

    def count(self) -> pl.Expr:
        """Rows in scope."""
        return pl.len() if self.where is None else self.where.sum()

    def duplicated(self, keys: Sequence[pl.Expr]) -> pl.Expr:
        """True for an in-scope row whose key values another in-scope row shares (NULL equals NULL)."""
        if self.where is None and len(keys) == 1:
            return keys[0].is_duplicated()
        # The scope joins the key, so out-of-scope rows only ever collide with each other.
        parts = [k.alias(f"__k{i}") for i, k in enumerate(keys)]
        parts += [self.where.alias("__in_scope")] if self.where is not None else []
        return pl.struct(parts).is_duplicated()

    def col(self, name: str) -> pl.Expr:
        if name not in self.schema:
            raise SchemaMismatch(f"column {name!r} does not exist (the table has {', '.join(self.schema.names())})"
                                 + _case_hint(name, self.schema))
        return pl.col(name)

    def dtype(self, name: str) -> pl.DataType:
        self.col(name)
        return self.schema[name]


@dataclass(frozen=True)
class Compiled:
    """A check's expressions. Row checks set `passes`; aggregate checks set `value` and bounds."""

    passes: pl.Expr | None = None
    fails: pl.Expr | None = None  # optional `~passes` written directly
    failing: pl.Expr | None = None  # optional count of failing in-scope rows that Polars can stream
    value: pl.Expr | None = None
    observe: Callable[[Any], float | None] = lambda v: None if v is None else float(v)
    fail_bounds: tuple[float | None, float | None] = (None, None)
    warn_bounds: tuple[float | None, float | None] | None = None
    metrics: Mapping[str, Callable[[pl.Expr], pl.Expr]] = field(default_factory=dict)  # fail mask -> aggregate
    static: Mapping[str, Any] | None = None  # a verdict from metadata alone: {"passed", "observed", "detail", "metrics"}
    observed_text: Callable[[Any], str | None] = lambda v: None
    figures: Callable[[float], tuple[str, Mapping[str, Any]]] | None = None  # observed -> (message figures, metrics)
    history: bool = False  # judged on the metric's stored history (ops/anomaly.py), not on bounds


Build = Callable[[Mapping[str, Any], Context], Compiled]


@dataclass(frozen=True)
class CheckType:
    name: str
    kind: str  # row | aggregate | schema | reference
    sentence: str  # "{column} must not be null"; filled from the rule's params
    params: tuple[Param, ...]
    validate: Callable[[Mapping[str, Any]], list[str]] | None = None
    build: Build | None = None
    lookup: Callable[[Mapping[str, Any], str], Lookup] | None = None  # (params, suite source) -> other table's values
    words: Callable[[Mapping[str, Any]], Mapping[str, str]] | None = None  # extra fields of the sentence
    sql: SqlBuild | None = None  # the SQL form (engine/sqlforms.py) the pushdown executor runs in the source
    local_only: str | None = None  # why the check has no SQL form (then pushdown runs it with Polars)

    @property
    def row_level(self) -> bool:
        return self.kind in {"row", "reference"}

    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def _case_hint(name: str, schema: pl.Schema) -> str:
    close = [c for c in schema.names() if c.lower() == name.lower()]
    if close:
        return f". Hint: column names are case-sensitive; did you mean {close[0]!r}?"
    return ". Hint: fix the column name in the rule, or the table changed (a column disappeared)."


def _one_of(*names: str) -> Callable[[Mapping[str, Any]], list[str]]:
    def check(params: Mapping[str, Any]) -> list[str]:
        if not any(params.get(n) is not None for n in names):
            return [f"needs at least one of {', '.join(names)}"]
        return []

    return check


def _exactly_one(*names: str) -> Callable[[Mapping[str, Any]], list[str]]:
    def check(params: Mapping[str, Any]) -> list[str]:
        given = [n for n in names if params.get(n) is not None]
        if len(given) != 1:
            return [f"needs exactly one of {' or '.join(names)}"]
        return []

    return check


def _between_rules(params: Mapping[str, Any]) -> list[str]:
    errors = _one_of("min", "max")(params)
    for side in ("min", "max"):
        if params.get(f"{side}_exclusive") and params.get(side) is None:
            errors.append(f"{side}_exclusive needs `{side}:`")
    low, high = params.get("min"), params.get("max")
    open_bound = params.get("min_exclusive") or params.get("max_exclusive")
    if open_bound and low is not None and high is not None and low == high:
        errors.append(f"min and max are both {low!r} with an exclusive bound: no value can pass")
    return errors


def _reconcile_words(params: Mapping[str, Any]) -> Mapping[str, str]:
    return {"of_column": f".{params['column']}" if params.get("column") else "",
            "of_ref_column": f".{params['ref_column']}" if params.get("ref_column") else "",
            "ref_stat": str(params.get("ref_stat") or params.get("stat")),
            "tolerance": str(params.get("tolerance") if params.get("tolerance") is not None else 0)}


def _reconcile_rules(params: Mapping[str, Any]) -> list[str]:
    errors = []
    for side, column in (("stat", "column"), ("ref_stat", "ref_column")):
        stat = params.get(side) or params.get("stat")
        if stat and stat != "count" and not params.get(column):
            errors.append(f"{side}: {stat} needs `{column}:`")
    return errors


def _aggregate_rules(params: Mapping[str, Any]) -> list[str]:
    errors = _one_of("min", "max")(params)
    if params.get("stat") == "quantile" and params.get("quantile") is None:
        errors.append("stat: quantile needs `quantile:` between 0 and 1")
    q = params.get("quantile")
    if q is not None and not (isinstance(q, int | float) and 0 <= q <= 1):
        errors.append("quantile must be a number between 0 and 1")
    return errors


# ---------------------------------------------------------------- helpers shared by the builders


def _numeric(ctx: Context, name: str) -> pl.Expr:
    """The column as numbers: decimals become Float64 so bounds compare the same on every database."""
    return _as_number(pl.col(name), ctx.dtype(name))


def _as_number(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Decimal):
        return column.cast(pl.Float64)
    if dtype == pl.Float32:
        # A PostgreSQL real / MySQL FLOAT 0.1 is 0.100000001490116 in binary: read it as the decimal
        # the database shows (shortest round-trip text), so 0.1 equals 0.1 as it does in SQLite's REAL.
        return column.cast(pl.String).cast(pl.Float64)
    if dtype == pl.Boolean:
        return column.cast(pl.Int8)
    return column


def _is_float(dtype: pl.DataType) -> bool:
    return dtype in (pl.Float32, pl.Float64)


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _text(ctx: Context, name: str, check: str) -> pl.Expr:
    if not _is_text(ctx.dtype(name)):
        raise CheckFailedToRun(
            f"{check} needs a text column, but {name!r} is {ctx.dtype(name)}. "
            "Hint: use between/aggregate for numbers, or a row_condition with an explicit cast.")
    # A cast that changes nothing still copies the strings: only categoricals are cast.
    return pl.col(name) if ctx.dtype(name) == pl.String else pl.col(name).cast(pl.String)


def _bound(value: Any, dtype: pl.DataType) -> Any:
    """A between bound in the column's terms: ISO strings become dates/timestamps for temporal columns."""
    if value is None:
        return None
    if dtype == pl.Date and isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(dtype, pl.Datetime) and isinstance(value, str | date):
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        parsed = parsed if isinstance(parsed, datetime) else datetime(parsed.year, parsed.month, parsed.day)
        if dtype.time_zone and parsed.tzinfo is None:
            return pl.lit(parsed).dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.time_zone)
        if not dtype.time_zone and parsed.tzinfo is not None:
            return pl.lit(parsed).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return parsed
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError as exc:
            raise CheckFailedToRun(f"bound {value!r} is not a number for a {dtype} column. "
                                   "Hint: write numbers as numbers, dates as YYYY-MM-DD.") from exc
    return value


def _key(keys: Sequence[pl.Expr]) -> pl.Expr:
    return keys[0] if len(keys) == 1 else pl.struct([k.alias(f"__k{i}") for i, k in enumerate(keys)])


def _duplicates_metrics(keys: Sequence[pl.Expr]) -> Mapping[str, Callable[[pl.Expr], pl.Expr]]:
    key = _key(keys)
    return {"duplicated_values": lambda fail: key.filter(fail).n_unique()}


# ---------------------------------------------------------------- one builder per check type


def row_count(params: Mapping[str, Any], ctx: Context) -> Compiled:
    return Compiled(value=ctx.count(), fail_bounds=(params.get("min"), params.get("max")))


def not_null(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """NULL fails; NaN and the empty string are values and pass."""
    return Compiled(passes=ctx.col(params["column"]).is_not_null())


def null_rate(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Failing rows are the NULL rows; the rule's fail level (from `threshold`) bounds their fraction."""
    return Compiled(passes=ctx.col(params["column"]).is_not_null())


def _key_columns(params: Mapping[str, Any], ctx: Context) -> list[str]:
    columns = [params["column"]] if params.get("column") else list(params.get("columns") or [])
    for name in columns:
        ctx.col(name)
    return columns


NORMALIZATIONS = ("nfc", "trim", "lower")  # applied in this order, whatever order the rule lists them in


def _normalize_rules(params: Mapping[str, Any]) -> list[str]:
    errors = _exactly_one("column", "columns")(params)
    unknown = [str(v) for v in params.get("normalize") or () if str(v).lower() not in NORMALIZATIONS]
    if unknown:
        errors.append(f"normalize: unknown step(s) {', '.join(unknown)}; use any of {', '.join(NORMALIZATIONS)}")
    return errors


def _normalized(ctx: Context, name: str, steps: Sequence[str]) -> pl.Expr:
    """The key column after Unicode NFC, trimming Unicode whitespace at both ends and lower-casing."""
    if not steps:
        return ctx.col(name)
    column = _text(ctx, name, "unique with normalize")
    wanted = {str(s).lower() for s in steps}
    if "nfc" in wanted:
        column = column.str.normalize("NFC")
    if "trim" in wanted:
        column = column.str.strip_chars()
    if "lower" in wanted:
        column = column.str.to_lowercase()
    return column


def unique(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """A row fails when another in-scope row has the same (normalised) key; a key with any NULL is never a duplicate."""
    columns = _key_columns(params, ctx)
    keys = [_normalized(ctx, c, params.get("normalize") or ()) for c in columns]
    nulls = [pl.col(c).is_not_null() for c in columns]
    complete = nulls[0] if len(nulls) == 1 else pl.all_horizontal(nulls)
    fails = complete & ctx.duplicated(keys)
    # The count filters first: `is_not_null() & is_duplicated()` makes Polars materialise every
    # column of the shared select (2x the memory of the streaming engine on 10M rows).
    in_scope = complete if ctx.where is None else complete & ctx.where
    failing = _key(keys).filter(in_scope).is_duplicated().sum()
    return Compiled(passes=~fails, fails=fails, failing=failing, metrics=_duplicates_metrics(keys))


def duplicate_rows(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """A row fails when another in-scope row is identical over `columns`; here NULL equals NULL."""
    columns = _key_columns(params, ctx) or list(ctx.schema.names())
    keys = [pl.col(c) for c in columns]
    fails = ctx.duplicated(keys)
    failing = ctx.scoped(_key(keys)).is_duplicated().sum()
    return Compiled(passes=~fails, fails=fails, failing=failing, metrics=_duplicates_metrics(keys))


def accepted_values(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """NULL passes (pair with not_null); the empty string and NaN must be listed to pass."""
    name = params["column"]
    dtype = ctx.dtype(name)
    values = list(params["values"])
    column = pl.col(name)
    if _is_text(dtype):
        column = column if dtype == pl.String else column.cast(pl.String)
        values = [v if isinstance(v, str) else _yaml_text(v) for v in values]
    elif dtype.is_integer() and all(isinstance(v, bool) for v in values):
        values = [int(v) for v in values]  # MySQL delivers BOOLEAN as TINYINT(1)
    elif dtype.is_integer() and all(isinstance(v, int) for v in values):
        # Integers compare as integers: as float64, 2**53 + 1 would equal 2**53 (64-bit ids).
        column, values = column.cast(pl.Int64), [int(v) for v in values]
    elif dtype.is_numeric() or isinstance(dtype, pl.Decimal):
        column, values = _numeric(ctx, name).cast(pl.Float64), [_number(v, name) for v in values]
    return Compiled(passes=column.is_null() | column.is_in(pl.Series(values).implode()))


def _yaml_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _number(value: Any, column: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise CheckFailedToRun(f"accepted value {value!r} is not a number but {column!r} is numeric. "
                               "Hint: list numbers for a numeric column.") from exc


def between(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Inclusive bounds unless `min_exclusive`/`max_exclusive`; NULL passes (pair with not_null); NaN fails."""
    name = params["column"]
    dtype = ctx.dtype(name)
    column = _numeric(ctx, name) if dtype.is_numeric() or isinstance(dtype, pl.Decimal) else pl.col(name)
    inside = pl.lit(True)
    low, high = _bound(params.get("min"), dtype), _bound(params.get("max"), dtype)
    if low is not None:
        inside = inside & ((column > low) if params.get("min_exclusive") else (column >= low))
    if high is not None:
        inside = inside & ((column < high) if params.get("max_exclusive") else (column <= high))
    if _is_float(dtype):
        inside = inside & ~column.is_nan()
    return Compiled(passes=column.is_null() | inside)


def regex(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Tested on non-NULL text (NULL passes); `full_match` (default true) anchors the pattern at both ends."""
    pattern = str(params["pattern"])
    if params.get("full_match", True):
        pattern = f"^(?:{pattern})$"
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        raise CheckFailedToRun(f"pattern {params['pattern']!r} is not a valid regular expression: "
                               f"{str(exc).splitlines()[-1] if str(exc) else exc}. "
                               "Hint: the syntax is Rust's regex crate (no look-around, no backreferences).") from exc
    column = _text(ctx, params["column"], "regex")
    return Compiled(passes=column.is_null() | column.str.contains(pattern))


def string_length(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Length in Unicode characters (not bytes), inclusive bounds; NULL passes, '' has length 0."""
    column = _text(ctx, params["column"], "string_length")
    length = column.str.len_chars()
    inside = pl.lit(True)
    if params.get("min") is not None:
        inside = inside & (length >= int(params["min"]))
    if params.get("max") is not None:
        inside = inside & (length <= int(params["max"]))
    return Compiled(passes=column.is_null() | inside)


def freshness(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Age of the newest non-NULL timestamp in scope; naive timestamps are read in `timezone` (default UTC)."""
    newest = ctx.scoped(epoch_us(ctx, params["column"], str(params.get("timezone") or "UTC"), "freshness")).max()
    max_age = parse_duration(params["max_age"]).total_seconds()
    warn = params.get("warn_age")
    now_us = (ctx.now - EPOCH) // timedelta(microseconds=1) if ctx.now.tzinfo else 0
    return Compiled(
        value=newest,
        observe=lambda v: None if v is None else (now_us - int(v)) / 1_000_000,
        observed_text=lambda v: None if v is None else instant_text(int(v)),
        fail_bounds=(None, max_age),
        warn_bounds=(None, parse_duration(warn).total_seconds()) if warn is not None else None,
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(ctx: Context, name: str, zone: str, check: str) -> pl.Expr:
    """A timestamp or date column as UTC microseconds since the epoch; naive values are read in `zone`.

    Microseconds, not a datetime: PostgreSQL 'infinity' arrives as year 262142, which Python's
    datetime cannot hold.
    """
    dtype = ctx.dtype(name)
    column = pl.col(name)
    if dtype == pl.String:
        column = column.str.to_datetime(strict=False, time_unit="us")
    elif dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
    elif not isinstance(dtype, pl.Datetime):
        raise CheckFailedToRun(f"{check} needs a timestamp or date column, but {name!r} is {dtype}. "
                               "Hint: point it at a load or event timestamp column.")
    if not (isinstance(dtype, pl.Datetime) and dtype.time_zone):
        column = column.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return column.dt.convert_time_zone("UTC").dt.epoch("us")


def instant_text(microseconds: int) -> str:
    """ISO 8601 of an instant; beyond Python's years 1-9999 (PostgreSQL 'infinity'), the word."""
    try:
        return (EPOCH + timedelta(microseconds=microseconds)).isoformat()
    except OverflowError:
        return "infinity" if microseconds > 0 else "-infinity"


_TYPE_MATCH: dict[str, Callable[[pl.DataType, str], bool]] = {
    "any": lambda d, dialect: True,
    "int": lambda d, dialect: d.is_integer(),
    "float": lambda d, dialect: _is_float(d),
    "decimal": lambda d, dialect: isinstance(d, pl.Decimal) or (dialect == "sqlite" and d.is_numeric()),
    "string": lambda d, dialect: _is_text(d),
    "bool": lambda d, dialect: d == pl.Boolean or (dialect == "mysql" and d == pl.Int8),
    "date": lambda d, dialect: d == pl.Date,
    "datetime": lambda d, dialect: isinstance(d, pl.Datetime),
    "time": lambda d, dialect: d == pl.Time or (dialect == "sqlite" and d == pl.String),  # SQLite: 'HH:MM:SS' text
}


def _type_matches(expected: str, name: str, ctx: Context) -> bool:
    """A portable type against the Polars type read; a precise one against the catalog's declaration."""
    wanted = parse_expected(expected)
    if isinstance(wanted, str):
        return _TYPE_MATCH[wanted](ctx.schema[name], ctx.dialect)
    return matches(wanted, _declared(ctx, name))


def _declared(ctx: Context, name: str) -> ColumnType:
    return ctx.declared.get(name) or from_polars(ctx.schema[name])


def schema(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Expected columns (exact, case-sensitive names) with portable or precise types; reports missing, retyped, extra."""
    expected: Mapping[str, str] = params["columns"]
    try:
        for kind in expected.values():
            parse_expected(str(kind))
    except ValueError as exc:
        raise CheckFailedToRun(f"{exc}. Hint: fix the type in the rule (docs/checks.md#schema).") from exc
    actual = ctx.schema
    missing = [c for c in expected if c not in actual]
    retyped = {c: {"expected": str(t), "actual": _shown_type(ctx, c, str(t))} for c, t in expected.items()
               if c in actual and not _type_matches(str(t), c, ctx)}
    extra = [] if params.get("allow_extra", True) else [c for c in actual.names() if c not in expected]
    drift = len(missing) + len(retyped) + len(extra)
    parts = [f"missing {', '.join(missing)}" if missing else "",
             ", ".join(f"{c} is {v['actual']} (expected {v['expected']})" for c, v in retyped.items()),
             f"unexpected {', '.join(extra)}" if extra else ""]
    return Compiled(static={
        "passed": drift == 0, "observed": float(drift),
        "detail": "; ".join(p for p in parts if p) or "no drift",
        "metrics": {"missing": missing, "retyped": retyped, "unexpected": extra,
                    "actual": {c: str(t) for c, t in actual.items()},
                    "declared": {c: str(t) for c, t in ctx.declared.items()}},
    })


def _shown_type(ctx: Context, name: str, expected: str) -> str:
    """The actual type in the terms of the expectation: the declaration for a precise one."""
    if isinstance(parse_expected(expected), str) and ctx.schema[name] != pl.Null:
        return str(ctx.schema[name])
    return str(_declared(ctx, name))


def aggregate(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """The statistic over non-NULL, non-NaN values in scope; no such value fails the rule."""
    name, stat = params["column"], params["stat"]
    dtype = ctx.dtype(name)
    if not (dtype.is_numeric() or isinstance(dtype, pl.Decimal)):
        raise CheckFailedToRun(f"aggregate {stat} needs a numeric column, but {name!r} is {dtype}. "
                               "Hint: use row_count, string_length or a row_condition instead.")
    column = ctx.scoped(_numeric(ctx, name).cast(pl.Float64))
    column = column.filter(~column.is_nan())
    stats = {"min": column.min(), "max": column.max(), "mean": column.mean(), "stddev": column.std(),
             "sum": column.sum(), "quantile": column.quantile(float(params.get("quantile") or 0.5), "linear")}
    value = stats[stat]
    if stat == "sum":  # the sum of nothing is no value, not 0, so an empty table cannot pass by accident
        value = pl.when(column.count() > 0).then(value)
    return Compiled(value=value, fail_bounds=(params.get("min"), params.get("max")))


def referential(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Non-NULL values must occur in the referenced column; NULL passes (a missing reference is not_null's job)."""
    name = params["column"]
    key = reference_key(params, ctx.source)
    values = ctx.references[key]
    dtype = ctx.dtype(name)
    column = pl.col(name)
    if dtype != values.dtype:
        both_numeric = (dtype.is_numeric() or isinstance(dtype, pl.Decimal)) and (
            values.dtype.is_numeric() or isinstance(values.dtype, pl.Decimal))
        if not both_numeric:
            raise CheckFailedToRun(f"{name!r} is {dtype} but {key.table}.{key.column} is {values.dtype}. "
                                   "Hint: reference a column of the same type.")
        if dtype.is_integer() and values.dtype.is_integer():  # 64-bit ids stay exact
            column, values = column.cast(pl.Int64), values.cast(pl.Int64)
        else:
            column = _as_number(column, dtype).cast(pl.Float64)
            values = values.to_frame().select(_as_number(pl.first(), values.dtype).cast(pl.Float64)).to_series()
    return Compiled(passes=column.is_null() | column.is_in(values.drop_nulls().implode()))


def reference_key(params: Mapping[str, Any], source: str) -> Lookup:
    """The distinct values of the referenced column a referential rule looks up."""
    return Lookup(str(params.get("ref_source") or source), str(params["ref_table"]), str(params["ref_column"]), True)


# ---------------------------------------------------------------- counts and reconciliation

RECONCILE_STATS = ("count", "count_distinct", "sum", "min", "max", "mean")


def _statistic(stat: str, column: str | None, ctx: Context, check: str) -> pl.Expr:
    """count: rows (no column) or non-NULL values; count_distinct: distinct non-NULL values;
    sum/min/max/mean: over non-NULL, non-NaN numbers (no such value: no value, never 0)."""
    if column is None:
        if stat != "count":
            raise CheckFailedToRun(f"{check} {stat} needs a column. Hint: add `column:` (and `ref_column:`).")
        return ctx.count()
    values = ctx.scoped(ctx.col(column))
    if stat == "count":
        return values.count()
    if stat == "count_distinct":
        return values.drop_nulls().n_unique()
    dtype = ctx.dtype(column)
    if not (dtype.is_numeric() or isinstance(dtype, pl.Decimal)):
        raise CheckFailedToRun(f"{check} {stat} needs a numeric column, but {column!r} is {dtype}. "
                               "Hint: use count or count_distinct for other columns.")
    numbers = ctx.scoped(_numeric(ctx, column).cast(pl.Float64))
    numbers = numbers.filter(numbers.is_not_null() & ~numbers.is_nan())
    value = {"sum": numbers.sum(), "min": numbers.min(), "max": numbers.max(), "mean": numbers.mean()}[stat]
    return pl.when(numbers.count() > 0).then(value)


def count(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Non-NULL values of the column in scope (NaN and '' are values), within inclusive bounds."""
    return Compiled(value=_statistic("count", params["column"], ctx, "count"),
                    fail_bounds=(params.get("min"), params.get("max")),
                    figures=lambda v: (f"{int(v):,} non-NULL values", {"count": int(v)}))


def count_distinct(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Distinct non-NULL values of the column in scope (NaN is one value), within inclusive bounds."""
    return Compiled(value=_statistic("count_distinct", params["column"], ctx, "count_distinct"),
                    fail_bounds=(params.get("min"), params.get("max")),
                    figures=lambda v: (f"{int(v):,} distinct values", {"distinct_values": int(v)}))


def _tolerance(value: Any) -> tuple[float, bool]:
    """(amount, relative): `5` is absolute, `"1%"` relative to the reference side's value."""
    if value is None:
        return 0.0, False
    if isinstance(value, str):
        return float(value.strip().rstrip("%").strip()) / 100, True
    return float(value), False


def reconcile_lookup(params: Mapping[str, Any], source: str) -> Lookup:
    """The other side's column (or only its rows, for a row count) read once per run."""
    column = params.get("ref_column")
    return Lookup(str(params.get("ref_source") or source), str(params["ref_table"]),
                  str(column) if column else None)


def reconciliation(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """This table's statistic against the other table's, within an absolute or relative tolerance.

    Passes when |here - there| <= tolerance (absolute) or <= tolerance x |there| (relative). Both
    sides follow `_statistic`'s NULL policy; a side without a value (sum of no rows) fails.
    """
    stat = str(params["stat"])
    ref_stat = str(params.get("ref_stat") or stat)
    lookup = reconcile_lookup(params, ctx.source)
    values = ctx.references[lookup]
    ref_ctx = Context(pl.Schema({values.name: values.dtype}), ctx.dialect)
    ref_column = values.name if lookup.column else None
    there = values.to_frame().select(_statistic(ref_stat, ref_column, ref_ctx, "reconciliation")).item()
    here = _statistic(stat, params.get("column"), ctx, "reconciliation")
    where = f"{lookup.table}" + (f".{lookup.column}" if lookup.column else "")
    if there is None or (isinstance(there, float) and math.isnan(there)):
        return Compiled(static={"passed": False, "observed": None,
                                "detail": f"{where} has no {ref_stat} (no non-NULL value)",
                                "metrics": {"ref_value": None}})
    there = float(there)
    amount, relative = _tolerance(params.get("tolerance"))
    allowed = amount * abs(there) if relative else amount
    if stat not in ("count", "count_distinct") or ref_stat not in ("count", "count_distinct"):
        allowed += 1e-9 * abs(there)  # float64 sums of the same numbers in another order differ in the last bits

    def figures(observed: float) -> tuple[str, Mapping[str, Any]]:
        difference = observed - there
        text = (f"{_num(observed)} here vs {_num(there)} in {where} (difference {_num(difference)}, "
                f"allowed {_num(allowed)})")
        return text, {"value": observed, "ref_value": there, "difference": difference,
                      "allowed_difference": allowed, "relative_difference": (difference / there) if there else None}

    return Compiled(value=here, fail_bounds=(there - allowed, there + allowed), figures=figures)


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.6g}"


def row_condition(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """A Polars SQL boolean expression per row; NULL (unknown) passes, as in a SQL CHECK constraint."""
    expression = sql_expression(str(params["expression"]), "expression")
    for name in expression.meta.root_names():
        ctx.col(name)
    return Compiled(passes=expression.fill_null(True))


def sql_expression(text: str, key: str) -> pl.Expr:
    try:
        return pl.sql_expr(text)
    except Exception as exc:  # polars raises SQLSyntaxError, SQLInterfaceError, ComputeError
        raise CheckFailedToRun(f"{key} {text!r} is not a valid Polars SQL expression: {exc}. "
                               "Hint: quote identifiers with double quotes and strings with single quotes.") from exc


# ---------------------------------------------------------------- anomaly: a metric judged against its history

METRICS = ("row_count", "rows_per_bucket", "freshness", "null_rate", "distinct_count", "mean", "min", "max")
_COLUMN_METRICS = ("null_rate", "distinct_count", "mean", "min", "max")
DEFAULT_BUCKET = "1d"


def _anomaly_rules(params: Mapping[str, Any]) -> list[str]:
    metric, column, stamp = params.get("metric"), params.get("column"), params.get("timestamp_column")
    errors = []
    if metric in _COLUMN_METRICS and not column:
        errors.append(f"metric: {metric} needs `column:` (the column it watches)")
    if metric == "rows_per_bucket" and not stamp:
        errors.append("metric: rows_per_bucket needs `timestamp_column:` (the column whose buckets are counted)")
    if metric == "freshness" and not (column or stamp):
        errors.append("metric: freshness needs `column:` (the timestamp whose newest value ages)")
    if metric == "freshness" and params.get("bucket"):
        errors.append("metric: freshness has no bucket (it is the age of the newest row at each run); remove `bucket:`")
    if params.get("bucket") and not stamp:
        errors.append("`bucket:` needs `timestamp_column:` (the buckets are of that column)")
    if params.get("bucket"):
        try:
            if parse_duration(params["bucket"]) < timedelta(minutes=1):
                errors.append("`bucket:` must be at least 1m")
        except Exception:  # noqa: BLE001 - the parser reports a bad duration itself
            pass
    return errors


def _anomaly_words(params: Mapping[str, Any]) -> Mapping[str, str]:
    return {"watched": watched_words(params)}


def watched_words(params: Mapping[str, Any]) -> str:
    """What an anomaly rule watches, in words: "rows per 1d of created_at", "null rate of email"."""
    metric, column = str(params.get("metric")), params.get("column")
    stamp, bucket = params.get("timestamp_column"), params.get("bucket") or DEFAULT_BUCKET
    if metric == "freshness":
        return f"age of the newest {column or stamp}"
    what = {"row_count": "rows", "rows_per_bucket": "rows", "null_rate": f"null rate of {column}",
            "distinct_count": f"distinct {column} values", "mean": f"mean of {column}",
            "min": f"min of {column}", "max": f"max of {column}"}[metric]
    return f"{what} per {bucket} of {stamp}" if stamp else what


def metric_label(params: Mapping[str, Any]) -> str:
    """The short name in an alert: "rows 1,204 vs expected ..."."""
    metric = str(params.get("metric"))
    return {"row_count": "rows", "rows_per_bucket": "rows", "freshness": "age (s)", "null_rate": "null rate",
            "distinct_count": "distinct values"}.get(metric, metric)


def bucket_of(params: Mapping[str, Any]) -> timedelta | None:
    """The bucket of a bucketed metric (None: the metric is the whole table's, observed at run time)."""
    if params.get("metric") == "freshness" or not params.get("timestamp_column"):
        return None
    return parse_duration(params.get("bucket") or DEFAULT_BUCKET)


def last_bucket(now: datetime, bucket: timedelta) -> tuple[datetime, datetime]:
    """The newest complete bucket before `now`: [start, end), buckets counted from the Unix epoch."""
    size = bucket // timedelta(microseconds=1)
    end = EPOCH + timedelta(microseconds=((now - EPOCH) // timedelta(microseconds=1)) // size * size)
    return end - bucket, end


def metric_value(params: Mapping[str, Any], ctx: Context) -> pl.Expr:
    """The metric as one aggregate over the in-scope rows of `ctx` (a group's rows inside a group_by).

    NULL policy: null_rate counts NULL rows among the rows in scope (no rows: no value);
    distinct_count counts non-NULL values; mean/min/max skip NULL and NaN (none left: no value).
    """
    metric, column = str(params["metric"]), params.get("column")
    if metric in ("row_count", "rows_per_bucket"):
        return ctx.count()
    if metric == "freshness":
        return ctx.scoped(epoch_us(ctx, str(column or params["timestamp_column"]), "UTC", "anomaly freshness")).max()
    assert column is not None
    values = ctx.scoped(ctx.col(column))
    if metric == "null_rate":
        return pl.when(ctx.count() > 0).then(values.is_null().sum() / ctx.count())
    stat = {"distinct_count": "count_distinct", "mean": "mean", "min": "min", "max": "max"}[metric]
    return _statistic(stat, column, ctx, "anomaly")


def anomaly(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """The metric of the newest complete bucket (or of the table): ops/anomaly.py judges it on its history.

    Alone (without the store's history) the engine cannot judge it: the result is NOT_ENOUGH_HISTORY.
    """
    bucket = bucket_of(params)
    scope = ctx
    point_at = ctx.now
    if bucket is not None:
        start, end = last_bucket(ctx.now, bucket)
        stamp = epoch_us(ctx, str(params["timestamp_column"]), "UTC", "anomaly")
        to_us = lambda t: (t - EPOCH) // timedelta(microseconds=1)  # noqa: E731
        inside = stamp.is_between(to_us(start), to_us(end), closed="left").fill_null(False)
        scope = Context(ctx.schema, ctx.dialect, inside if ctx.where is None else ctx.where & inside,
                        ctx.references, ctx.source, ctx.now, ctx.declared)
        point_at = start
    now_us = (ctx.now - EPOCH) // timedelta(microseconds=1) if ctx.now.tzinfo else 0
    freshness_metric = params["metric"] == "freshness"

    def observe(value: Any) -> float | None:
        if value is None:
            return None
        return (now_us - int(value)) / 1_000_000 if freshness_metric else float(value)

    def figures(observed: float) -> tuple[str, Mapping[str, Any]]:
        shown = f"{observed:,.0f}" if float(observed).is_integer() else f"{observed:,.6g}"
        return (f"{metric_label(params)} {shown} (judged against its history)",
                {"metric": params["metric"], "point_at": point_at.isoformat()})

    return Compiled(value=metric_value(params, scope), observe=observe, figures=figures, history=True)


COLUMN = Param("column", "column", True, "the column checked")
STATS = ("min", "max", "mean", "stddev", "sum", "quantile")

CHECKS: dict[str, CheckType] = {
    c.name: c
    for c in [
        CheckType("row_count", "aggregate", "{table} must have {bounds} rows",
                  (Param("min", "integer"), Param("max", "integer")), _one_of("min", "max"), row_count, sql=sqlforms.row_count),
        CheckType("not_null", "row", "{column} must not be null", (COLUMN,), None, not_null, sql=sqlforms.not_null),
        CheckType("null_rate", "row", "{column} null rate must be at most {threshold}", (COLUMN,),
                  None, null_rate, sql=sqlforms.not_null),
        CheckType("unique", "row", "{columns} must be unique{normalized} (NULLs are not duplicates)",
                  (Param("column", "column"), Param("columns", "columns"),
                   Param("normalize", "values", doc="any of nfc, trim, lower: compare keys after these steps")),
                  _normalize_rules, unique, sql=sqlforms.unique, words=lambda p: {
                      "normalized": f" after {', '.join(s for s in NORMALIZATIONS if s in p.get('normalize', ()))}"
                      if p.get("normalize") else ""}),
        CheckType("duplicate_rows", "row", "rows must not repeat over {columns}",
                  (Param("columns", "columns", doc="default: every column of the table"),), None, duplicate_rows,
                  sql=sqlforms.duplicate_rows),
        CheckType("accepted_values", "row", "{column} must be one of {values}",
                  (COLUMN, Param("values", "values", True)), None, accepted_values, sql=sqlforms.accepted_values),
        CheckType("between", "row", "{column} must be {bounds}",
                  (COLUMN, Param("min", "bound"), Param("max", "bound"),
                   Param("min_exclusive", "boolean", doc="default false: min itself passes"),
                   Param("max_exclusive", "boolean", doc="default false: max itself passes")),
                  _between_rules, between, sql=sqlforms.between),
        CheckType("regex", "row", "{column} must match {pattern}",
                  (COLUMN, Param("pattern", "regex", True),
                   Param("full_match", "boolean", doc="default true: the whole string must match")), None, regex,
                  local_only="SQLite has no REGEXP function and the dialects' regex flavours differ (POSIX, PCRE, ICU)"),
        CheckType("string_length", "row", "{column} length must be {bounds} characters",
                  (COLUMN, Param("min", "integer"), Param("max", "integer")), _one_of("min", "max"), string_length,
                  sql=sqlforms.string_length),
        CheckType("freshness", "aggregate", "newest {column} must be at most {max_age} old",
                  (COLUMN, Param("max_age", "duration", True), Param("warn_age", "duration"),
                   Param("timezone", "string", doc="zone of naive timestamps; default UTC")), None, freshness,
                  local_only="naive timestamps are read in the rule's time zone, which the SQL form does not port yet"),
        CheckType("schema", "schema", "{table} must have the expected columns and types",
                  (Param("columns", "mapping", True, "column name -> type (int, float, decimal, string, bool, date, "
                         "datetime, time, any; or decimal(p,s), varchar(n), char(n), timestamp, timestamptz)"),
                   Param("allow_extra", "boolean", doc="default true: columns not listed are fine")), None, schema, sql=sqlforms.catalog),
        CheckType("aggregate", "aggregate", "{stat} of {column} must be {bounds}",
                  (COLUMN, Param("stat", "choice", True, choices=STATS), Param("quantile", "number"),
                   Param("min", "number"), Param("max", "number")), _aggregate_rules, aggregate, sql=sqlforms.aggregate),
        CheckType("referential", "reference", "{column} must exist in {ref_table}.{ref_column}",
                  (COLUMN, Param("ref_table", "string", True), Param("ref_column", "column", True),
                   Param("ref_source", "string", doc="default: the suite's source")), None, referential,
                  reference_key, local_only="the referenced column may live in another source: no one statement can join them"),
        CheckType("count", "aggregate", "non-NULL {column} values must be {bounds}",
                  (COLUMN, Param("min", "integer"), Param("max", "integer")), _one_of("min", "max"), count, sql=sqlforms.count),
        CheckType("count_distinct", "aggregate", "distinct {column} values must be {bounds}",
                  (COLUMN, Param("min", "integer"), Param("max", "integer")), _one_of("min", "max"), count_distinct,
                  sql=sqlforms.count_distinct),
        CheckType("reconciliation", "aggregate",
                  "{stat} of {table}{of_column} must match {ref_stat} of {ref_table}{of_ref_column} within {tolerance}",
                  (Param("stat", "choice", True, choices=RECONCILE_STATS), Param("column", "column"),
                   Param("ref_table", "string", True), Param("ref_column", "column"),
                   Param("ref_stat", "choice", doc="default: the same as stat", choices=RECONCILE_STATS),
                   Param("ref_source", "string", doc="default: the suite's source"),
                   Param("tolerance", "tolerance", doc='absolute (5) or relative ("1%"); default 0')),
                  _reconcile_rules, reconciliation, reconcile_lookup, _reconcile_words,
                  local_only="the other side may live in another source: no one statement can read both"),
        CheckType("row_condition", "row", "rows must satisfy {expression}",
                  (Param("expression", "sql", True, "a Polars SQL boolean expression"),), None, row_condition,
                  local_only="the expression is Polars SQL, whose functions differ from each source's dialect"),
        CheckType("anomaly", "aggregate", "{watched} must stay within its expected band",
                  (Param("metric", "choice", True, choices=METRICS),
                   Param("column", "column", doc="the column a per-column metric watches"),
                   Param("timestamp_column", "column", doc="bucket the rows by this column: the metric of the "
                         "newest complete bucket, and a history backfilled from the table"),
                   Param("bucket", "duration", doc="the bucket size, default 1d")),
                  _anomaly_rules, anomaly, words=_anomaly_words,
                  local_only="the bucket window is computed from the run's clock in Polars; the metric is "
                             "still read in the same scan as the suite's local rules"),
    ]
}
