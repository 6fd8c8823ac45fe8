"""Run a plan's rules inside the source: one statement of aggregates, one LIMITed sample per failing rule.

The plan (engine/plan.py) was compiled with Polars for validation and judging; this module adds
each rule's SQL form (engine/sqlforms.py) and returns the same outcomes the local executor's select
gives: {"failing", "tested", metrics...} for row checks, {"value"} for aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp

from engine.errors import CheckFailedToRun, EngineError
from engine.plan import RulePlan
from engine.pushdown.backend import Backend, PushdownError, PushdownTimeout
from engine.sqlforms import SqlCompiled, SqlContext


def where_sql(text: str) -> exp.Expression:
    """A rule's `where:` (Polars SQL) as a sqlglot expression with every identifier quoted."""
    try:
        parsed = sqlglot.parse_one(text, read="postgres")
    except sqlglot.errors.ParseError as exc:
        raise CheckFailedToRun(f"where {text!r} has no SQL form: {exc}. Hint: use `execution: local`.") from exc

    def quote(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Identifier):
            node.set("quoted", True)
        return node

    return parsed.transform(quote)


def sql_form(plan: RulePlan, relation: exp.Expression, schema: pl.Schema, dialect: str) -> tuple[SqlContext, SqlCompiled]:
    assert plan.check.sql is not None
    where = where_sql(plan.rule.where) if plan.rule.where else None
    ctx = SqlContext(relation, schema, dialect, where)
    return ctx, plan.check.sql(plan.rule.params, ctx)


def _count_if(condition: exp.Expression) -> exp.Expression:
    return exp.Coalesce(this=exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=exp.convert(1))],
                                                   default=exp.convert(0))), expressions=[exp.convert(0)])


def outputs(index: int, ctx: SqlContext, form: SqlCompiled) -> list[exp.Expression]:
    def named(value: exp.Expression, name: str) -> exp.Expression:
        return exp.alias_(value, f"{index}:{name}", quoted=True)

    if form.value is not None:
        return [named(form.value, "value")]
    assert form.fails is not None
    scope = ctx.where
    failing = form.failing if form.failing is not None else _count_if(
        form.fails.copy() if scope is None else exp.And(this=exp.Paren(this=scope.copy()),
                                                         expression=exp.Paren(this=form.fails.copy())))
    tested = ctx.count()
    # Metrics (distinct duplicated values) repeat the check's grouping: only for a failing rule (`metrics`).
    return [named(failing, "failing"), named(tested, "tested")]


def metrics(backend: Backend, form: SqlCompiled, timeout: float) -> dict[str, Any]:
    if not form.metrics:
        return {}
    query = exp.select(*[exp.alias_(v.copy(), k, quoted=True) for k, v in form.metrics.items()])
    return backend.run(query, timeout_seconds=timeout).row(0, named=True)


def statement(relation: exp.Expression, columns: Sequence[exp.Expression]) -> exp.Select:
    return exp.select(exp.alias_(exp.Count(this=exp.Star()), "rows", quoted=True), *columns).from_(relation.copy())


def aggregates(backend: Backend, relation: exp.Expression, forms: dict[int, tuple[SqlContext, SqlCompiled]],
               timeout: float) -> dict[Any, Any]:
    """Every rule's outcome from one statement; if it fails, each rule alone so only the bad one errors.
    A timeout is not retried: it ends the run (PushdownTimeout propagates)."""
    columns = [c for i, (ctx, form) in forms.items() for c in outputs(i, ctx, form)]
    try:
        return _split(backend.run(statement(relation, columns), timeout_seconds=timeout))
    except PushdownTimeout:
        raise
    except PushdownError:
        pass
    values: dict[Any, Any] = {}
    for index, (ctx, form) in forms.items():
        try:
            values |= _split(backend.run(statement(relation, outputs(index, ctx, form)), timeout_seconds=timeout))
        except PushdownTimeout:
            raise
        except EngineError as exc:
            values[index] = (f"its SQL form cannot run in this source ({backend.dialect}): {exc}"
                             if "Hint:" in str(exc) else f"{exc}. Hint: use `execution: local` for this suite.")
    return values


def _split(frame: pl.DataFrame) -> dict[Any, Any]:
    row = frame.row(0, named=True)
    values: dict[Any, Any] = {"rows": row.get("rows")}
    for name, value in row.items():
        if ":" in name:
            index, key = name.split(":", 1)
            values.setdefault(int(index), {})[key] = value
    return values


def sample(backend: Backend, ctx: SqlContext, form: SqlCompiled, columns: Sequence[str], cap: int,
           timeout: float) -> list[dict[str, Any]]:
    assert form.fails is not None
    condition = form.fails.copy()
    if ctx.where is not None:
        condition = exp.And(this=exp.Paren(this=ctx.where.copy()), expression=exp.Paren(this=condition))
    query = exp.select(*[exp.column(c, quoted=True) for c in columns]).from_(ctx.relation.copy()).where(
        condition).limit(exp.convert(cap))
    return backend.run(query, timeout_seconds=timeout).to_dicts()
