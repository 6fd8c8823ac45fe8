"""Compile a suite into a plan: which reads (columns, sample, partition window) and which expressions.

The plan says nothing about where it runs: evaluate.py executes it with Polars over a reader's
frame; a SQL-pushdown executor could render the same reads and aggregates inside the source.
Rules sharing sampling and partition settings share one read (and one select).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from engine.checks import CHECKS, CheckType, Compiled, Context, Lookup, sql_expression
from engine.coltypes import ColumnType
from engine.durations import parse_duration
from engine.errors import EngineError, SchemaMismatch
from engine.hints import TableHint
from engine.model import Rule, Suite
from engine.reader import ReadSpec, TableRef, Window

DEFAULT_SAMPLE_SIZE = 10_000  # use_sampling without sample_size, as in the runbook's advice


@dataclass(frozen=True)
class ReadKey:
    """What makes two rules' reads different: the random sample and the partition window."""

    sample_size: int | None = None
    window: Window | None = None


@dataclass(frozen=True)
class RulePlan:
    rule: Rule
    check: CheckType
    read: ReadKey
    compiled: Compiled | None = None
    where: pl.Expr | None = None
    columns: tuple[str, ...] = ()
    error: str | None = None

    @property
    def scope(self) -> pl.Expr:
        return pl.lit(True) if self.where is None else self.where

    def tested(self) -> pl.Expr:
        return pl.len() if self.where is None else self.where.sum()

    def fail_mask(self) -> pl.Expr:
        assert self.compiled is not None and self.compiled.passes is not None
        failing = self.compiled.fails if self.compiled.fails is not None else ~self.compiled.passes
        return failing if self.where is None else self.where & failing

    def outputs(self) -> dict[str, pl.Expr]:
        """The aggregates this rule adds to its read's one select, by output name."""
        compiled = self.compiled
        if compiled is None or compiled.static is not None:
            return {}
        if compiled.passes is None:
            assert compiled.value is not None
            return {"value": compiled.value}
        failing = compiled.failing if compiled.failing is not None else self.fail_mask().sum()
        return {"failing": failing, "tested": self.tested()}

    def metric_outputs(self) -> dict[str, pl.Expr]:
        """Extras (distinct duplicated values) computed only when the rule has failing rows: they
        would repeat the check's hashing in the shared select and double its time and memory."""
        if self.compiled is None or self.compiled.passes is None:
            return {}
        fail = self.fail_mask()
        return {name: metric(fail) for name, metric in self.compiled.metrics.items()}


@dataclass(frozen=True)
class Plan:
    suite: Suite
    table: TableRef
    rules: tuple[RulePlan, ...]
    first_column: str | None  # read when a group's rules need no column at all (row_count alone); None: rows only
    hint: TableHint | None = None  # every read of the table carries it (engine/hints.py)

    def reads(self) -> dict[ReadKey, ReadSpec]:
        """One ReadSpec per distinct ReadKey, with the union of its rules' columns (in table order)."""
        grouped: dict[ReadKey, list[str]] = {}
        degrees: dict[ReadKey, int] = {}
        for plan in self.rules:
            if plan.error is None and plan.outputs():
                columns = grouped.setdefault(plan.read, [])
                columns.extend(c for c in plan.columns if c not in columns)
                if plan.rule.parallel_degree:  # rules share the read: it uses the largest degree asked for
                    degrees[plan.read] = max(degrees.get(plan.read, 1), plan.rule.parallel_degree)
        first = (self.first_column,) if self.first_column else ()
        return {key: ReadSpec(self.table, tuple(columns) or first, key.sample_size, key.window,
                              partitions=degrees.get(key), hint=self.hint)
                for key, columns in grouped.items()}

    def rules_of(self, key: ReadKey) -> list[RulePlan]:
        return [p for p in self.rules if p.read == key and p.error is None and p.outputs()]


def table_of(suite: Suite) -> TableRef:
    return TableRef(suite.schema, suite.table)


def read_key(rule: Rule) -> ReadKey:
    sample = (rule.sample_size or DEFAULT_SAMPLE_SIZE) if rule.use_sampling else None
    window = None
    if rule.partition_column:
        lookback = parse_duration(rule.partition_lookback) if rule.partition_lookback else None
        window = Window(rule.partition_column, lookback)
    return ReadKey(sample, window)


def lookup_of(rule: Rule, source: str) -> Lookup | None:
    """What the rule's check reads from another table (referential, reconciliation), if anything."""
    check = CHECKS.get(rule.check)
    return check.lookup(rule.params, source) if check is not None and check.lookup is not None else None


def reference_keys(suite: Suite, rules: Sequence[Rule]) -> set[Lookup]:
    return {key for r in rules if (key := lookup_of(r, suite.source)) is not None}


def compile_rule(rule: Rule, schema: pl.Schema, context: Context) -> RulePlan:
    """One rule's plan; any problem becomes the plan's `error` (an ERROR verdict for this rule alone)."""
    check = CHECKS.get(rule.check)
    if check is None or check.build is None:
        known = ", ".join(sorted(CHECKS))
        return RulePlan(rule, CHECKS["row_condition"], ReadKey(),
                        error=f"unknown check type {rule.check!r}. Hint: use one of {known}.")
    try:
        key = read_key(rule)
        where = sql_expression(rule.where, "where").fill_null(False) if rule.where else None
        context = Context(schema, context.dialect, where, context.references, context.source, context.now,
                          context.declared)
        compiled = check.build(rule.params, context)
        plan = RulePlan(rule, check, key, compiled, where)
        columns = _columns(plan, schema, key)
        plan = RulePlan(rule, check, key, compiled, where, columns)
        _dry_run(plan, schema)
        return plan
    except EngineError as exc:
        return RulePlan(rule, check, ReadKey(), error=str(exc))
    except (pl.exceptions.PolarsError, KeyError, TypeError, ValueError) as exc:
        return RulePlan(rule, check, ReadKey(), error=_polars_error(exc))


def _columns(plan: RulePlan, schema: pl.Schema, key: ReadKey) -> tuple[str, ...]:
    names: list[str] = []
    compiled = plan.compiled
    own = [e for e in (compiled.passes, compiled.value) if e is not None] if compiled else []
    for expr in [*own, *plan.outputs().values(), *plan.metric_outputs().values()]:  # the check's own columns first (samples show them first)
        names.extend(n for n in expr.meta.root_names() if n not in names)
    if key.window and key.window.column not in schema:
        raise SchemaMismatch(f"partition_column {key.window.column!r} does not exist in the table. "
                             "Hint: name an existing date or timestamp column.")
    missing = [n for n in names if n not in schema]
    if missing:
        raise SchemaMismatch(f"column {missing[0]!r} (used in where/expression) does not exist "
                             f"(the table has {', '.join(schema.names())}). Hint: fix the column name.")
    return tuple(names)


def _dry_run(plan: RulePlan, schema: pl.Schema) -> None:
    """Evaluate the rule's aggregates on an empty frame of the real schema: type errors surface here."""
    outputs = plan.outputs() | plan.metric_outputs()
    if outputs:
        pl.DataFrame(schema=schema).lazy().select(
            [e.alias(n) for n, e in outputs.items()]).collect()


def _polars_error(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (f"the check cannot be evaluated on this table: {first}. "
            "Hint: check the column types against the check type (docs/checks.md).")


def compile_suite(suite: Suite, rules: Sequence[Rule], schema: pl.Schema, *, dialect: str,
                  references: Mapping[Lookup, pl.Series] | None = None,
                  reference_errors: Mapping[Lookup, str] | None = None,
                  now: datetime, declared: Mapping[str, ColumnType] | None = None,
                  unreadable: Mapping[str, str] | None = None) -> Plan:
    """The plan for the given (enabled) rules of a suite over the table's real schema.

    A rule that needs an `unreadable` column (a type the driver cannot read) errors naming the
    column and the reason; the suite's other rules are planned without it.
    """
    context = Context(schema, dialect, None, references or {}, suite.source, now, declared or {})
    unreadable = unreadable or {}
    plans = []
    for rule in rules:
        key = lookup_of(rule, suite.source)
        if key is not None and reference_errors and key in reference_errors:
            plans.append(RulePlan(rule, CHECKS[rule.check], ReadKey(), error=reference_errors[key]))
            continue
        plan = compile_rule(rule, schema, context)
        blocked = [c for c in (plan.columns if plan.error is None else mentioned(rule, unreadable)) if c in unreadable]
        if blocked:
            plan = RulePlan(rule, plan.check, ReadKey(), error=unreadable_error(blocked[0], unreadable[blocked[0]]))
        plans.append(plan)
    readable = [c for c in schema.names() if c not in unreadable]
    return Plan(suite, table_of(suite), tuple(plans), readable[0] if readable else None)


def unreadable_error(column: str, reason: str) -> str:
    return f"column {column!r} cannot be read: {reason}"


def mentioned(rule: Rule, columns: Mapping[str, str]) -> list[str]:
    """Which of `columns` a rule that failed to compile names (in its params, `where:` or `expression:`)."""
    names: set[str] = set()
    for value in rule.params.values():
        if isinstance(value, str):
            names.add(value)
        elif isinstance(value, list | tuple):
            names.update(str(v) for v in value)
    for text in (rule.where, rule.params.get("expression")):
        if text:
            with contextlib.suppress(EngineError):
                names.update(sql_expression(str(text), "where").meta.root_names())
    return [c for c in columns if c in names]


