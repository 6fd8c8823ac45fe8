"""The flat table of check types: parameters, kind, sentence and the function building its Polars expressions.

Row-level checks ("row", "reference") yield a Polars expression that is True for a row that
passes; the engine counts the in-scope rows where it is False. Aggregate checks ("aggregate")
yield one aggregate expression whose value is compared with bounds; "schema" compares the
table's real columns and types without reading rows. Every check states its NULL policy.
Exact semantics per check, with worked examples: docs/checks.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

from engine.durations import parse_duration
from engine.errors import CheckFailedToRun, SchemaMismatch


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    required: bool = False
    doc: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """What a check may know when it compiles: the table's real schema, the dialect and the rule's scope."""

    schema: pl.Schema
    dialect: str
    where: pl.Expr | None = None  # the rule's `where:` filter (None: every row is in scope)
    references: Mapping[tuple[str, str, str], pl.Series] = field(default_factory=dict)
    source: str = ""
    now: datetime = datetime.min  # aware UTC evaluation time (freshness)

    @property
    def scope(self) -> pl.Expr:
        return pl.lit(True) if self.where is None else self.where

    def scoped(self, expr: pl.Expr) -> pl.Expr:
        """The expression's values on in-scope rows (no filter at all without `where:`)."""
        return expr if self.where is None else expr.filter(self.where)

    def count(self) -> pl.Expr:
        """Rows in scope."""
        return pl.len() if self.where is None else self.where.sum()

    def duplicated(self, columns: Sequence[str]) -> pl.Expr:
        """True for an in-scope row whose `columns` values another in-scope row shares (NULL equals NULL)."""
        if self.where is None and len(columns) == 1:
            return pl.col(columns[0]).is_duplicated()
        # The scope joins the key, so out-of-scope rows only ever collide with each other.
        parts = [pl.col(c) for c in columns] + ([self.where.alias("__in_scope")] if self.where is not None else [])
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


Build = Callable[[Mapping[str, Any], Context], Compiled]


@dataclass(frozen=True)
class CheckType:
    name: str
    kind: str  # row | aggregate | schema | reference
    sentence: str  # "{column} must not be null"; filled from the rule's params
    params: tuple[Param, ...]
    validate: Callable[[Mapping[str, Any]], list[str]] | None = None
    build: Build | None = None

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
    dtype = ctx.dtype(name)
    if isinstance(dtype, pl.Decimal):
        return pl.col(name).cast(pl.Float64)
    if dtype == pl.Boolean:
        return pl.col(name).cast(pl.Int8)
    return pl.col(name)


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


def _duplicates_metrics(columns: Sequence[str]) -> Mapping[str, Callable[[pl.Expr], pl.Expr]]:
    key = pl.struct(list(columns)) if len(columns) > 1 else pl.col(columns[0])
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


def unique(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """A row fails when another in-scope row has the same key; a key with any NULL is never a duplicate."""
    columns = _key_columns(params, ctx)
    nulls = [pl.col(c).is_not_null() for c in columns]
    complete = nulls[0] if len(nulls) == 1 else pl.all_horizontal(nulls)
    fails = complete & ctx.duplicated(columns)
    # The count filters first: `is_not_null() & is_duplicated()` makes Polars materialise every
    # column of the shared select (2x the memory of the streaming engine on 10M rows).
    in_scope = complete if ctx.where is None else complete & ctx.where
    key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
    failing = key.filter(in_scope).is_duplicated().sum()
    return Compiled(passes=~fails, fails=fails, failing=failing, metrics=_duplicates_metrics(columns))


def duplicate_rows(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """A row fails when another in-scope row is identical over `columns`; here NULL equals NULL."""
    columns = _key_columns(params, ctx) or list(ctx.schema.names())
    fails = ctx.duplicated(columns)
    key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
    failing = ctx.scoped(key).is_duplicated().sum()
    return Compiled(passes=~fails, fails=fails, failing=failing, metrics=_duplicates_metrics(columns))


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
    """Inclusive bounds; NULL passes (pair with not_null); NaN fails (it is not in any range)."""
    name = params["column"]
    dtype = ctx.dtype(name)
    column = _numeric(ctx, name) if dtype.is_numeric() or isinstance(dtype, pl.Decimal) else pl.col(name)
    inside = pl.lit(True)
    low, high = _bound(params.get("min"), dtype), _bound(params.get("max"), dtype)
    if low is not None:
        inside = inside & (column >= low)
    if high is not None:
        inside = inside & (column <= high)
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
    name = params["column"]
    dtype = ctx.dtype(name)
    zone = str(params.get("timezone") or "UTC")
    column = pl.col(name)
    if dtype == pl.String:
        column = column.str.to_datetime(strict=False, time_unit="us")
    elif dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
    elif not isinstance(dtype, pl.Datetime):
        raise CheckFailedToRun(f"freshness needs a timestamp or date column, but {name!r} is {dtype}. "
                               "Hint: point freshness at a load or event timestamp column.")
    if not (isinstance(dtype, pl.Datetime) and dtype.time_zone):
        column = column.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    newest = ctx.scoped(column.dt.convert_time_zone("UTC")).max()
    max_age = parse_duration(params["max_age"]).total_seconds()
    warn = params.get("warn_age")
    return Compiled(
        value=newest,
        observe=lambda v: None if v is None else (ctx.now - v).total_seconds(),
        observed_text=lambda v: None if v is None else v.isoformat(),
        fail_bounds=(None, max_age),
        warn_bounds=(None, parse_duration(warn).total_seconds()) if warn is not None else None,
    )


_TYPE_MATCH: dict[str, Callable[[pl.DataType, str], bool]] = {
    "any": lambda d, dialect: True,
    "int": lambda d, dialect: d.is_integer(),
    "float": lambda d, dialect: _is_float(d),
    "decimal": lambda d, dialect: isinstance(d, pl.Decimal) or (dialect == "sqlite" and d.is_numeric()),
    "string": lambda d, dialect: _is_text(d),
    "bool": lambda d, dialect: d == pl.Boolean or (dialect == "mysql" and d == pl.Int8),
    "date": lambda d, dialect: d == pl.Date,
    "datetime": lambda d, dialect: isinstance(d, pl.Datetime),
}


def schema(params: Mapping[str, Any], ctx: Context) -> Compiled:
    """Expected columns (exact, case-sensitive names) with portable types; reports missing, retyped, extra."""
    expected: Mapping[str, str] = params["columns"]
    unknown = sorted({str(t) for t in expected.values()} - set(_TYPE_MATCH))
    if unknown:
        raise CheckFailedToRun(f"unknown type(s) {', '.join(unknown)}. Hint: use one of {', '.join(_TYPE_MATCH)}.")
    actual = ctx.schema
    missing = [c for c in expected if c not in actual]
    retyped = {c: {"expected": str(t), "actual": str(actual[c])} for c, t in expected.items()
               if c in actual and not _TYPE_MATCH[str(t)](actual[c], ctx.dialect)}
    extra = [] if params.get("allow_extra", True) else [c for c in actual.names() if c not in expected]
    drift = len(missing) + len(retyped) + len(extra)
    parts = [f"missing {', '.join(missing)}" if missing else "",
             ", ".join(f"{c} is {v['actual']} (expected {v['expected']})" for c, v in retyped.items()),
             f"unexpected {', '.join(extra)}" if extra else ""]
    return Compiled(static={
        "passed": drift == 0, "observed": float(drift),
        "detail": "; ".join(p for p in parts if p) or "no drift",
        "metrics": {"missing": missing, "retyped": retyped, "unexpected": extra,
                    "actual": {c: str(t) for c, t in actual.items()}},
    })


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
            raise CheckFailedToRun(f"{name!r} is {dtype} but {key[1]}.{key[2]} is {values.dtype}. "
                                   "Hint: reference a column of the same type.")
        column, values = column.cast(pl.Float64), values.cast(pl.Float64)
    return Compiled(passes=column.is_null() | column.is_in(values.drop_nulls().implode()))


def reference_key(params: Mapping[str, Any], source: str) -> tuple[str, str, str]:
    """(source, table, column) of the values a referential rule looks up."""
    return (str(params.get("ref_source") or source), str(params["ref_table"]), str(params["ref_column"]))


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


COLUMN = Param("column", "column", True, "the column checked")
STATS = ("min", "max", "mean", "stddev", "sum", "quantile")

CHECKS: dict[str, CheckType] = {
    c.name: c
    for c in [
        CheckType("row_count", "aggregate", "{table} must have {bounds} rows",
                  (Param("min", "integer"), Param("max", "integer")), _one_of("min", "max"), row_count),
        CheckType("not_null", "row", "{column} must not be null", (COLUMN,), None, not_null),
        CheckType("null_rate", "row", "{column} null rate must be at most {threshold}", (COLUMN,),
                  None, null_rate),
        CheckType("unique", "row", "{columns} must be unique (NULLs are not duplicates)",
                  (Param("column", "column"), Param("columns", "columns")), _exactly_one("column", "columns"),
                  unique),
        CheckType("duplicate_rows", "row", "rows must not repeat over {columns}",
                  (Param("columns", "columns", doc="default: every column of the table"),), None, duplicate_rows),
        CheckType("accepted_values", "row", "{column} must be one of {values}",
                  (COLUMN, Param("values", "values", True)), None, accepted_values),
        CheckType("between", "row", "{column} must be {bounds}",
                  (COLUMN, Param("min", "bound"), Param("max", "bound")), _one_of("min", "max"), between),
        CheckType("regex", "row", "{column} must match {pattern}",
                  (COLUMN, Param("pattern", "regex", True),
                   Param("full_match", "boolean", doc="default true: the whole string must match")), None, regex),
        CheckType("string_length", "row", "{column} length must be {bounds} characters",
                  (COLUMN, Param("min", "integer"), Param("max", "integer")), _one_of("min", "max"), string_length),
        CheckType("freshness", "aggregate", "newest {column} must be at most {max_age} old",
                  (COLUMN, Param("max_age", "duration", True), Param("warn_age", "duration"),
                   Param("timezone", "string", doc="zone of naive timestamps; default UTC")), None, freshness),
        CheckType("schema", "schema", "{table} must have the expected columns and types",
                  (Param("columns", "mapping", True, "column name -> type (int, float, decimal, string, bool, date, datetime, any)"),
                   Param("allow_extra", "boolean", doc="default true: columns not listed are fine")), None, schema),
        CheckType("aggregate", "aggregate", "{stat} of {column} must be {bounds}",
                  (COLUMN, Param("stat", "choice", True, choices=STATS), Param("quantile", "number"),
                   Param("min", "number"), Param("max", "number")), _aggregate_rules, aggregate),
        CheckType("referential", "reference", "{column} must exist in {ref_table}.{ref_column}",
                  (COLUMN, Param("ref_table", "string", True), Param("ref_column", "column", True),
                   Param("ref_source", "string", doc="default: the suite's source")), None, referential),
        CheckType("row_condition", "row", "rows must satisfy {expression}",
                  (Param("expression", "sql", True, "a Polars SQL boolean expression"),), None, row_condition),
    ]
}
