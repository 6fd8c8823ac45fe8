"""The SQL half of each check type: sqlglot expressions the pushdown executor runs inside the source.

A builder gets the rule's params and a SqlContext and returns a SqlCompiled: for a row check the
predicate that is TRUE for a failing row (`fails`), optionally a whole-table `failing` count (the
duplicate checks, which need a GROUP BY), and extra `metrics`; for an aggregate check its `value`.
Identifiers are quoted and values rendered as literals by sqlglot, never pasted. The semantics
(NULL policy, bounds) are those of the Polars form in engine/checks.py; docs/checks.md lists the
deliberate differences per dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlglot import exp

from engine.errors import CheckFailedToRun, LocalOnlyHere


@dataclass(frozen=True)
class SqlContext:
    relation: exp.Expression  # what FROM reads
    schema: pl.Schema
    dialect: str  # sqlglot dialect name
    where: exp.Expression | None = None

    def col(self, name: str) -> exp.Column:
        if name not in self.schema:
            raise CheckFailedToRun(f"column {name!r} does not exist. Hint: fix the column name in the rule.")
        return exp.column(name, quoted=True)

    def scoped(self, value: exp.Expression) -> exp.Expression:
        """The value on in-scope rows, NULL elsewhere (aggregates skip NULL)."""
        if self.where is None:
            return value
        return exp.Case(ifs=[exp.If(this=self.where.copy(), true=value)])

    def count(self) -> exp.Expression:
        if self.where is None:
            return exp.Count(this=exp.Star())
        return exp.Count(this=self.scoped(exp.convert(1)))


@dataclass(frozen=True)
class SqlCompiled:
    fails: exp.Expression | None = None  # TRUE for a failing row (the scope is added by the executor)
    failing: exp.Expression | None = None  # a scalar count of failing rows, when a row predicate cannot give it
    value: exp.Expression | None = None  # aggregate checks
    metrics: Mapping[str, exp.Expression] = field(default_factory=dict)
    catalog: bool = False  # judged from the catalog (schema): no statement at all


SqlBuild = Callable[[Mapping[str, Any], SqlContext], SqlCompiled]


def _not(value: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Paren(this=value))


def _and(parts: Sequence[exp.Expression]) -> exp.Expression:
    result = parts[0]
    for part in parts[1:]:
        result = exp.And(this=result, expression=part)
    return result


def _is_null(value: exp.Expression) -> exp.Expression:
    return exp.Is(this=value, expression=exp.Null())


def _not_null(value: exp.Expression) -> exp.Expression:
    return exp.Not(this=_is_null(value))


def row_count(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    return SqlCompiled(value=ctx.count())


def not_null(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    return SqlCompiled(fails=_is_null(ctx.col(params["column"])))


def _keys(params: Mapping[str, Any], ctx: SqlContext) -> list[str]:
    columns = [params["column"]] if params.get("column") else list(params.get("columns") or [])
    return columns or list(ctx.schema.names())


def _duplicates(ctx: SqlContext, columns: Sequence[str], skip_null_keys: bool,
                normalized: Mapping[str, exp.Expression] | None = None) -> SqlCompiled:
    """Rows whose key another in-scope row shares, as one GROUP BY ... HAVING COUNT(*) > 1 subquery.

    The subquery groups (sort- or hash-based as the planner likes; PostgreSQL is steered to a sort
    by its backend, see docs/architecture.md); the row predicate for samples is `key IN (...)`.
    """
    nulls = [ctx.col(c) for c in columns]
    keys = [(normalized or {}).get(c) or ctx.col(c) for c in columns]
    conditions = [_not_null(k.copy()) for k in nulls] if skip_null_keys else []
    if ctx.where is not None:
        conditions.append(ctx.where.copy())
    aliases = [f"__k{i}" for i in range(len(keys))]
    groups = exp.select(*[exp.alias_(k.copy(), a, quoted=True) for k, a in zip(keys, aliases, strict=True)],
                        exp.alias_(exp.Count(this=exp.Star()), "__n", quoted=True)).from_(ctx.relation.copy())
    if conditions:
        groups = groups.where(_and(conditions))
    groups = groups.group_by(*[k.copy() for k in keys]).having(
        exp.GT(this=exp.Count(this=exp.Star()), expression=exp.convert(1)))
    counted = exp.select(exp.alias_(exp.Sum(this=exp.column("__n", quoted=True)), "__f", quoted=True),
                         exp.alias_(exp.Count(this=exp.Star()), "__d", quoted=True)).from_(
        groups.subquery("__dups"))
    failing = exp.Coalesce(this=exp.Subquery(this=counted.copy().select(
        exp.Sum(this=exp.column("__n", quoted=True)), append=False)), expressions=[exp.convert(0)])
    distinct = exp.Subquery(this=counted.copy().select(exp.Count(this=exp.Star()), append=False))
    inner = exp.select(*[exp.column(a, quoted=True) for a in aliases]).from_(groups.subquery("__dups"))
    target: exp.Expression = keys[0].copy() if len(keys) == 1 else exp.Tuple(expressions=[k.copy() for k in keys])
    fails: exp.Expression = exp.In(this=target, query=inner.subquery())
    if not skip_null_keys and len(keys) >= 1:
        # NULL equals NULL for duplicate_rows: IN cannot see it, so samples compare with IS NOT DISTINCT FROM
        pairs = [exp.NullSafeEQ(this=k.copy(), expression=exp.column(a, table="__g", quoted=True))
                 for k, a in zip(keys, aliases, strict=True)]
        fails = exp.Exists(this=exp.select(exp.convert(1)).from_(groups.subquery("__g")).where(_and(pairs)))
    return SqlCompiled(fails=fails, failing=failing, metrics={"duplicated_values": distinct})


# What Polars' strip_chars() strips: Unicode White_Space. The SQL TRIMs strip only spaces by default.
UNICODE_SPACES = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + \
    "\u2028\u2029\u202f\u205f\u3000"
_NFC = {**{d: lambda v: exp.Anonymous(this="NORMALIZE", expressions=[v, exp.var("NFC")])
           for d in ("postgres", "trino", "bigquery")},
        "duckdb": lambda v: exp.Anonymous(this="NFC_NORMALIZE", expressions=[v])}


def _normalized(ctx: SqlContext, name: str, steps: Sequence[str]) -> exp.Expression:
    """The key after NFC, Unicode trim and lower-case, in that order, as the Polars form does."""
    value: exp.Expression = ctx.col(name)
    wanted = {str(s).lower() for s in steps}
    if "nfc" in wanted:
        if ctx.dialect not in _NFC:
            raise LocalOnlyHere(f"{ctx.dialect} has no Unicode NFC normalisation function")
        value = _NFC[ctx.dialect](value)
    if "trim" in wanted:
        if ctx.dialect == "mysql":
            raise LocalOnlyHere(f"{ctx.dialect}'s TRIM removes one string, not a set of whitespace characters")
        value = exp.Trim(this=value, expression=exp.Literal.string(UNICODE_SPACES))
    if "lower" in wanted:
        value = exp.Lower(this=value)
    return value


def unique(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    columns = _keys(params, ctx)
    steps = params.get("normalize") or ()
    if not steps:
        return _duplicates(ctx, columns, skip_null_keys=True)
    keys = {c: _normalized(ctx, c, steps) for c in columns}
    return _duplicates(ctx, columns, skip_null_keys=True, normalized=keys)


def duplicate_rows(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    return _duplicates(ctx, _keys(params, ctx), skip_null_keys=False)


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def accepted_values(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    name = params["column"]
    column = ctx.col(name)
    values = list(params["values"])
    if _is_text(ctx.schema[name]):
        values = [v if isinstance(v, str) else str(v) for v in values]
    elif all(isinstance(v, bool) for v in values):
        values = [int(v) for v in values]
    listed = [exp.convert(v) for v in values if v is not None]
    if not listed:
        return SqlCompiled(fails=_not_null(column))
    return SqlCompiled(fails=_and([_not_null(column.copy()), _not(exp.In(this=column, expressions=listed))]))


def _within(value: exp.Expression, params: Mapping[str, Any]) -> exp.Expression:
    parts: list[exp.Expression] = []
    if params.get("min") is not None:
        low = exp.convert(params["min"])
        parts.append(exp.GT(this=value.copy(), expression=low) if params.get("min_exclusive")
                     else exp.GTE(this=value.copy(), expression=low))
    if params.get("max") is not None:
        high = exp.convert(params["max"])
        parts.append(exp.LT(this=value.copy(), expression=high) if params.get("max_exclusive")
                     else exp.LTE(this=value.copy(), expression=high))
    return _and(parts)


def _sqlite_instant(value: exp.Expression) -> exp.Expression:
    """SQLite keeps dates and timestamps as text: this form compares in UTC to the millisecond."""
    return exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string("%Y-%m-%d %H:%M:%f"), value])


def _temporal(value: Any, dtype: pl.DataType, ctx: SqlContext) -> exp.Expression | None:
    """A between bound as a date/timestamp literal in the column's terms (the Polars form's `_bound`):
    a naive bound on a zoned column is UTC, a zoned bound on a naive column is converted to UTC."""
    if value is None:
        return None
    if dtype == pl.Date:
        day = value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value))
        text, kind = day.isoformat(), "date"
    else:
        moment = value if isinstance(value, datetime) else (
            datetime(value.year, value.month, value.day) if isinstance(value, date) else datetime.fromisoformat(value))
        zoned = isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
        if zoned:
            moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        elif moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        text, kind = moment.isoformat(sep=" "), "timestamptz" if zoned else "timestamp"
    if ctx.dialect == "sqlite":
        return _sqlite_instant(exp.Literal.string(text))
    return exp.cast(exp.Literal.string(text), exp.DataType.build(kind), dialect=ctx.dialect)


def between(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    name = params["column"]
    column: exp.Expression = ctx.col(name)
    dtype = ctx.schema[name]
    if dtype.is_temporal():
        bounds = {**params, "min": _temporal(params.get("min"), dtype, ctx),
                  "max": _temporal(params.get("max"), dtype, ctx)}
        value = _sqlite_instant(column.copy()) if ctx.dialect == "sqlite" else column.copy()
        return SqlCompiled(fails=_and([_not_null(column), _not(_within(value, bounds))]))
    return SqlCompiled(fails=_and([_not_null(column.copy()), _not(_within(column, params))]))


def regex(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    """Non-NULL text that does not match fails; anchored as the Polars form (`full_match`, default true)."""
    if ctx.dialect == "sqlite":
        raise LocalOnlyHere("SQLite has no REGEXP function by default")
    pattern = str(params["pattern"])
    if params.get("full_match", True):
        pattern = f"^(?:{pattern})$"
    column = ctx.col(params["column"])
    # PostgreSQL ~ (POSIX ARE), MySQL REGEXP_LIKE (ICU; MariaDB PCRE), DuckDB regexp_matches (RE2), Spark
    # RLIKE (java.util.regex): the same on the patterns the Rust crate accepts, bar the cases in docs/checks.md.
    matches: exp.Expression = exp.RegexpLike(this=column, expression=exp.Literal.string(pattern))
    if ctx.dialect == "mysql":  # MariaDB has no REGEXP_LIKE; REGEXP_INSTR is in both
        matches = exp.GT(this=exp.Anonymous(this="REGEXP_INSTR", expressions=[column.copy(), exp.Literal.string(pattern)]),
                         expression=exp.convert(0))
    return SqlCompiled(fails=_and([_not_null(column.copy()), _not(matches)]))


def _epoch_us(value: exp.Expression, dtype: pl.DataType | type[pl.DataType], zone: str, dialect: str) -> exp.Expression:
    """Microseconds since the epoch of the newest instant: naive values are wall-clock time in `zone`."""
    zoned = isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    if dialect == "postgres":
        if dtype == pl.Date:
            value = exp.cast(value, exp.DataType.build("timestamp"))
        if not zoned and zone != "UTC":
            value = exp.AtTimeZone(this=value, zone=exp.Literal.string(zone))
        seconds: exp.Expression = exp.Extract(this=exp.var("EPOCH"), expression=value)
        return exp.cast(exp.Mul(this=seconds, expression=exp.convert(1_000_000)), exp.DataType.build("bigint"))
    if dialect == "duckdb":
        if not zoned and zone != "UTC":
            value = exp.Anonymous(this="TIMEZONE", expressions=[exp.Literal.string(zone), value])
        elif dtype == pl.Date:
            value = exp.cast(value, exp.DataType.build("timestamp"))
        return exp.Anonymous(this="EPOCH_US", expressions=[value])
    if dialect == "spark":  # the session's time zone is UTC (engine/pushdown/backends/spark.py)
        value = exp.cast(value, exp.DataType.build("timestamp"))
        if not zoned and zone != "UTC":
            value = exp.Anonymous(this="TO_UTC_TIMESTAMP", expressions=[value, exp.Literal.string(zone)])
        return exp.Anonymous(this="UNIX_MICROS", expressions=[value])
    if zone != "UTC" and not zoned and dialect in {"mysql", "sqlite"}:
        raise LocalOnlyHere(f"{dialect} converts named time zones only with its zone tables loaded")
    if dialect == "mysql":
        return exp.Anonymous(this="TIMESTAMPDIFF", expressions=[
            exp.var("MICROSECOND"), exp.Literal.string("1970-01-01 00:00:00"), value])
    if dialect == "sqlite":  # the newest text, normalised to UTC first: '...+02:00' does not sort as text
        seconds = exp.cast(exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string("%s"), value]),
                           exp.DataType.build("bigint"))
        millis = exp.cast(exp.Anonymous(this="SUBSTR", expressions=[
            exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string("%f"), value]), exp.convert(4)]),
            exp.DataType.build("bigint"))
        return exp.Add(this=exp.Mul(this=seconds, expression=exp.convert(1_000_000)),
                       expression=exp.Mul(this=millis, expression=exp.convert(1000)))
    # Generated only (Trino, Redshift, BigQuery, Snowflake): whole seconds since the epoch.
    if not zoned and zone != "UTC":
        value = exp.AtTimeZone(this=value, zone=exp.Literal.string(zone))
    return exp.Mul(this=exp.TimeToUnix(this=value), expression=exp.convert(1_000_000))


def freshness(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    """The newest in-scope instant as epoch microseconds (the Polars form's value); the age is judged there."""
    name = params["column"]
    dtype = ctx.schema.get(name)
    column = ctx.col(name)
    if dtype == pl.String and ctx.dialect != "sqlite":
        raise LocalOnlyHere("freshness on a text column parses it with Polars' format inference")
    zone = str(params.get("timezone") or "UTC")
    if ctx.dialect == "sqlite":  # SQLite: MAX of text normalised to UTC, then its epoch
        return SqlCompiled(value=_epoch_us(exp.Max(this=ctx.scoped(_sqlite_instant(column))), pl.String, zone, "sqlite"))
    return SqlCompiled(value=_epoch_us(exp.Max(this=ctx.scoped(column)), dtype or pl.String, zone, ctx.dialect))


def string_length(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    column = ctx.col(params["column"])
    return SqlCompiled(fails=_and([_not_null(column.copy()), _not(_within(exp.Length(this=column), params))]))


def count(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    return SqlCompiled(value=exp.Count(this=ctx.scoped(ctx.col(params["column"]))))


def count_distinct(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    return SqlCompiled(value=exp.Count(this=exp.Distinct(expressions=[ctx.scoped(ctx.col(params["column"]))])))


def aggregate(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    value_column: exp.Expression = ctx.col(params["column"])
    if ctx.schema[params["column"]] == pl.Float32:
        # As the Polars form: a 4-byte float is the decimal the database shows (0.1, not 0.100000001490116).
        value_column = exp.cast(value_column, exp.DataType.build("text"), dialect=ctx.dialect)
    column = ctx.scoped(exp.cast(value_column, exp.DataType.build("double"), dialect=ctx.dialect))
    stat = params["stat"]
    if stat == "quantile":
        order = exp.Order(expressions=[exp.Ordered(this=column)])
        value: exp.Expression = exp.WithinGroup(
            this=exp.PercentileCont(this=exp.convert(float(params.get("quantile") or 0.5))), expression=order)
    else:
        value = {"min": exp.Min, "max": exp.Max, "mean": exp.Avg, "stddev": exp.StddevSamp,
                 "sum": exp.Sum}[stat](this=column)
    return SqlCompiled(value=value)


def catalog(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    """schema compares the catalog's columns and types: no statement, the same in both executors."""
    return SqlCompiled(catalog=True)
