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
from typing import Any

import polars as pl
from sqlglot import exp

from engine.errors import CheckFailedToRun


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


def _duplicates(ctx: SqlContext, columns: Sequence[str], skip_null_keys: bool) -> SqlCompiled:
    """Rows whose key another in-scope row shares, as one GROUP BY ... HAVING COUNT(*) > 1 subquery.

    The subquery groups (sort- or hash-based as the planner likes; PostgreSQL is steered to a sort
    by its backend, see docs/architecture.md); the row predicate for samples is `key IN (...)`.
    """
    keys = [ctx.col(c) for c in columns]
    conditions = [_not_null(k.copy()) for k in keys] if skip_null_keys else []
    if ctx.where is not None:
        conditions.append(ctx.where.copy())
    groups = exp.select(*[k.copy() for k in keys], exp.alias_(exp.Count(this=exp.Star()), "__n", quoted=True)
                        ).from_(ctx.relation.copy())
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
    inner = exp.select(*[k.copy() for k in keys]).from_(groups.subquery("__dups"))
    target: exp.Expression = keys[0].copy() if len(keys) == 1 else exp.Tuple(expressions=[k.copy() for k in keys])
    fails: exp.Expression = exp.In(this=target, query=inner)
    if not skip_null_keys and len(keys) >= 1:
        # NULL equals NULL for duplicate_rows: IN cannot see it, so samples compare with IS NOT DISTINCT FROM
        pairs = [exp.NullSafeEQ(this=k.copy(), expression=exp.column(c, table="__g", quoted=True))
                 for k, c in zip(keys, columns, strict=True)]
        fails = exp.Exists(this=exp.select(exp.convert(1)).from_(groups.subquery("__g")).where(_and(pairs)))
    return SqlCompiled(fails=fails, failing=failing, metrics={"duplicated_values": distinct})


def unique(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    if params.get("normalize"):
        raise CheckFailedToRun("unique with normalize needs Unicode NFC, which the SQL dialects lack. "
                               "Hint: use `execution: local` for this suite.")
    return _duplicates(ctx, _keys(params, ctx), skip_null_keys=True)


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


def between(params: Mapping[str, Any], ctx: SqlContext) -> SqlCompiled:
    name = params["column"]
    dtype = ctx.schema.get(name)
    if dtype is not None and dtype.is_temporal():
        raise CheckFailedToRun("between on a date or timestamp column has no SQL form yet. "
                               "Hint: use `execution: local` for this suite.")
    column = ctx.col(name)
    return SqlCompiled(fails=_and([_not_null(column.copy()), _not(_within(column, params))]))


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
