"""Evaluate a suite: one read per read spec, one lazy select of every rule's aggregates, one result per rule."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import polars as pl

import clock
import settings
from engine import hints
from engine.checks import CHECKS, Lookup
from engine.errors import EngineError, SchemaMismatch, SourceUnavailable
from engine.model import ANY_FAILING_ROW, Level, Rule, Source, Suite
from engine.plan import (
    Plan,
    ReadKey,
    RulePlan,
    compile_suite,
    reference_keys,
    table_of,
    unreadable_error,
)
from engine.reader import Reader, ReadSpec, TableRead, TableRef, reader_for
from engine.results import RuleResult, SuiteReport, Verdict
from engine.sources import mask, resolve

PII_MASK = "***"


def evaluate_suite(suite: Suite, sources: Mapping[str, Source], *, rule_names: Sequence[str] | None = None,
                   now: datetime | None = None, sample_rows: int | None = None) -> SuiteReport:
    """Evaluate the suite's rules (or only `rule_names`) against its table; never raises for bad data."""
    started = clock.utcnow()
    now = now or started
    cap = settings.get("DQ_FAILING_ROWS_SAMPLE") if sample_rows is None else sample_rows
    selected = _select(suite, rule_names)
    skipped = [_skipped(r) for r in selected if not r.enabled]
    enabled = [r for r in selected if r.enabled]
    run = _Run(suite, sources, now, cap)
    try:
        results, rows = run.evaluate(enabled) if enabled else ([], 0)
    except EngineError as exc:
        message = mask(str(exc))
        results = [_error(r, message) for r in enabled]
        return SuiteReport(suite.name, suite.source, started, clock.utcnow(),
                           _in_order(selected, results + skipped), None, message)
    return SuiteReport(suite.name, suite.source, started, clock.utcnow(),
                       _in_order(selected, results + skipped), rows)


def _select(suite: Suite, rule_names: Sequence[str] | None) -> list[Rule]:
    if rule_names is None:
        return list(suite.rules)
    known = {r.name for r in suite.rules}
    unknown = [n for n in rule_names if n not in known]
    if unknown:
        raise EngineError(f"rule(s) {', '.join(unknown)} are not in suite {suite.name!r}. "
                          f"Hint: the suite has {', '.join(sorted(known)) or 'no rules'}.")
    return [r for r in suite.rules if r.name in set(rule_names)]


def _in_order(rules: Sequence[Rule], results: list[RuleResult]) -> tuple[RuleResult, ...]:
    by_name = {r.rule_name: r for r in results}
    return tuple(by_name[r.name] for r in rules)


class _Run:
    """One evaluation of one suite: resolves the source, plans, reads and judges."""

    def __init__(self, suite: Suite, sources: Mapping[str, Source], now: datetime, cap: int) -> None:
        self.suite, self.sources, self.now, self.cap = suite, sources, now, cap
        self.readers: dict[str, Reader] = {}

    def reader(self, name: str) -> Reader:
        if name not in self.readers:
            source = self.sources.get(name)
            if source is None:
                raise SourceUnavailable(f"source {name!r} is not declared. Hint: add it to rules/sources.yaml "
                                        f"(declared: {', '.join(sorted(self.sources)) or 'none'}).")
            self.readers[name] = reader_for(resolve(source))
        return self.readers[name]

    def evaluate(self, rules: list[Rule]) -> tuple[list[RuleResult], int]:
        reader = self.reader(self.suite.source)
        table = reader.describe(table_of(self.suite))
        hint, hint_errors = hints.for_suite(getattr(reader, "query", None), reader.location.dialect, self.suite.source,
                                            self.suite.schema, self.suite.table, rules)
        unhinted = [_error(r, mask(hint_errors[r.name])) for r in rules if r.name in hint_errors]
        rules = [r for r in rules if r.name not in hint_errors]
        references, reference_errors = self.references(rules)
        plan = compile_suite(self.suite, rules, table.schema, dialect=reader.location.dialect,
                             references=references, reference_errors=reference_errors, now=self.now,
                             declared=table.declared, unreadable=table.unreadable)
        plan = replace(plan, hint=hint)
        results = unhinted + [_error(p.rule, p.error) for p in plan.rules if p.error is not None]
        results += [_static(p, self.suite) for p in plan.rules if p.error is None and p.compiled and p.compiled.static]
        rows = 0
        pushed, plan = self.pushdown(plan, table.schema)
        results += pushed
        for key, spec in plan.reads().items():
            group_results, group_rows = self.evaluate_read(reader, plan, key, spec)
            results += group_results
            rows += group_rows
        return results, rows

    def pushdown(self, plan: Plan, schema: pl.Schema) -> tuple[list[RuleResult], Plan]:
        """Under `execution: pushdown` (or auto above DQ_PUSHDOWN_AUTO_ROWS) the rules with a SQL form run
        inside the source; the plan that is left (local_only checks, sampled or windowed reads) runs locally."""
        from engine.pushdown import run as pushdown_run

        return pushdown_run.evaluate(self, plan, schema)

    def references(self, rules: list[Rule]) -> tuple[dict, dict]:
        """What rules read from other tables (referenced values, the other side of a reconciliation),
        read once each; a failure errors only the rules that need it."""
        values: dict[Lookup, pl.Series] = {}
        errors: dict[Lookup, str] = {}
        for key in reference_keys(self.suite, rules):
            schema_name, _, name = key.table.rpartition(".")
            ref = TableRef(schema_name or None, name)
            columns = (key.column,) if key.column else ()
            try:
                reader = self.reader(key.source)
                described = reader.describe(ref)
                if key.column is not None and key.column not in described.schema:
                    raise SchemaMismatch(f"referenced column {key.column!r} does not exist in {key.table} "
                                         f"(it has {', '.join(described.schema.names())}). Hint: fix ref_column.")
                if key.column is not None and key.column in described.unreadable:
                    raise SchemaMismatch(f"in {key.table}, " + unreadable_error(key.column, described.unreadable[key.column]))
                read = reader.read(ReadSpec(ref, columns, distinct=key.distinct))
                if read.unreadable:
                    column, reason = next(iter(read.unreadable.items()))
                    raise SchemaMismatch(f"in {key.table}, " + unreadable_error(column, reason))
                values[key] = read.frame.collect().to_series()
            except EngineError as exc:
                errors[key] = mask(str(exc))
            except pl.exceptions.PolarsError as exc:
                errors[key] = _read_error(exc, ReadSpec(ref, columns))
        return values, errors

    def evaluate_read(self, reader: Reader, plan: Plan, key: ReadKey, spec: ReadSpec) -> tuple[list[RuleResult], int]:
        rules = plan.rules_of(key)
        started = time.perf_counter()
        try:
            read: TableRead = reader.read(spec)
        except EngineError as exc:
            return [_error(p.rule, mask(str(exc))) for p in rules], 0
        except pl.exceptions.PolarsError as exc:
            return [_error(p.rule, _read_error(exc, spec)) for p in rules], 0
        # A column that could not be read or converted errors only the rules that need it.
        results = []
        for rule_plan in [p for p in rules if set(p.columns) & set(read.unreadable)]:
            column = next(c for c in rule_plan.columns if c in read.unreadable)
            results.append(_error(rule_plan.rule, mask(unreadable_error(column, read.unreadable[column]))))
        rules = [p for p in rules if not set(p.columns) & set(read.unreadable)]
        spec = replace(spec, columns=tuple(c for c in spec.columns if c not in read.unreadable))
        frame = read.frame
        try:
            values = _collect(frame, rules)
        except EngineError as exc:
            return results + [_error(p.rule, mask(str(exc))) for p in rules], 0
        except pl.exceptions.PolarsError as exc:
            return results + [_error(p.rule, _read_error(exc, spec)) for p in rules], 0
        elapsed = (time.perf_counter() - started) * 1000
        for index, rule_plan in enumerate(rules):
            outcome = values.get(index)
            if isinstance(outcome, str):
                results.append(_error(rule_plan.rule, outcome))
                continue
            try:
                results.append(self.judge(rule_plan, outcome or {}, frame, spec, elapsed))
            except (ArithmeticError, TypeError, ValueError, pl.exceptions.PolarsError) as exc:
                results.append(_error(rule_plan.rule, f"the result could not be judged: {exc}. "
                                      "Hint: check the rule's bounds against the column's type."))
        return results, int(values.get("rows", 0) or 0)

    def judge(self, plan: RulePlan, outcome: dict[str, Any], frame: pl.LazyFrame, spec: ReadSpec,
              elapsed_ms: float) -> RuleResult:
        started = time.perf_counter()
        if plan.compiled is not None and plan.compiled.passes is not None:
            outcome = outcome | _metrics(frame, plan, int(outcome.get("failing") or 0))
            result = _judge_rows(plan, outcome, self.suite)
            # Samples belong to violations: a passing rule (null_rate within its threshold) keeps none.
            if result.status in {Verdict.FAILED, Verdict.WARNED} and self.cap > 0:
                sample = _sample(frame, plan, spec, self.suite.pii_columns, self.cap)
                result = _replace(result, sample=sample)
        else:
            result = _judge_aggregate(plan, outcome.get("value"), self.suite)
        return _replace(result, duration_ms=elapsed_ms + (time.perf_counter() - started) * 1000)


def _collect(frame: pl.LazyFrame, rules: list[RulePlan]) -> dict[Any, Any]:
    """One select of every rule's aggregates; if it fails, each rule alone, so only the bad one errors."""
    exprs = [pl.len().alias("rows")]
    for index, plan in enumerate(rules):
        exprs += [expr.alias(f"{index}:{name}") for name, expr in plan.outputs().items()]
    try:
        row = frame.select(exprs).collect().row(0, named=True)
    except (pl.exceptions.PolarsError, ArithmeticError, ValueError):  # also a value Python cannot hold
        return _collect_one_by_one(frame, rules)
    values: dict[Any, Any] = {"rows": row["rows"]}
    for name, value in row.items():
        if ":" in name:
            position, output = name.split(":", 1)
            values.setdefault(int(position), {})[output] = value
    return values


def _metrics(frame: pl.LazyFrame, plan: RulePlan, failing: int) -> dict[str, Any]:
    """The rule's extra figures: a second pass only when rows failed (zero otherwise)."""
    outputs = plan.metric_outputs()
    if not outputs or not failing:
        return {name: 0 for name in outputs}
    return frame.select([e.alias(n) for n, e in outputs.items()]).collect().row(0, named=True)


def _collect_one_by_one(frame: pl.LazyFrame, rules: list[RulePlan]) -> dict[Any, Any]:
    values: dict[Any, Any] = {"rows": frame.select(pl.len()).collect().item()}
    for index, plan in enumerate(rules):
        try:
            values[index] = frame.select(
                [e.alias(n) for n, e in plan.outputs().items()]).collect().row(0, named=True)
        except (pl.exceptions.PolarsError, ArithmeticError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            values[index] = (f"the check failed while evaluating: {first}. "
                             "Hint: check the column's values and type against the check (docs/checks.md).")
    return values


def _read_error(exc: Exception, spec: ReadSpec) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"reading {spec.table} failed: {mask(first)}. Hint: check the table's columns and types."


# ------------------------------------------------------------------------- verdicts


def fail_level(rule: Rule) -> Level:
    """The rule's fail level; null_rate's `threshold` when the parser left it in params; else any row."""
    if rule.fail is not None:
        return rule.fail
    if rule.check == "null_rate" and rule.param("threshold") is not None:
        return Level(max_fraction=float(rule.param("threshold")))
    return ANY_FAILING_ROW


def _levels(rule: Rule) -> tuple[str | None, str]:
    return (rule.warn.describe() if rule.warn else None), fail_level(rule).describe()


def _judge_rows(plan: RulePlan, outcome: Mapping[str, Any], suite: Suite) -> RuleResult:
    rule = plan.rule
    failing, tested = int(outcome.get("failing") or 0), int(outcome.get("tested") or 0)
    fail = fail_level(rule)
    if fail.exceeded(failing, tested):
        status = Verdict.FAILED
    elif rule.warn is not None and rule.warn.exceeded(failing, tested):
        status = Verdict.WARNED
    else:
        status = Verdict.PASSED
    fraction = failing / tested if tested else 0.0
    metrics = {k: v for k, v in outcome.items() if k not in {"failing", "tested"}}
    if "duplicated_values" in metrics:
        metrics["extra_copies"] = failing - int(metrics["duplicated_values"] or 0)
    verb = "are NULL" if rule.check == "null_rate" else "failed"
    figures = f"{failing:,} of {tested:,} rows {verb} ({fraction:.2%})"
    if failing and "duplicated_values" in metrics:
        figures += f"; {metrics['duplicated_values']:,} distinct duplicated value(s), {metrics['extra_copies']:,} extra copies"
    if not tested:
        figures += " (no rows in scope)"
    warn_text, fail_text = _levels(rule)
    return RuleResult(rule.name, rule.check, str(rule.severity), status,
                      f"{sentence(rule, suite)}: {figures}.", fraction, None, warn_text, fail_text,
                      failing, tested, _json_safe(metrics))


def _judge_aggregate(plan: RulePlan, value: Any, suite: Suite) -> RuleResult:
    rule, compiled = plan.rule, plan.compiled
    assert compiled is not None
    observed = compiled.observe(value)
    if observed is not None and math.isnan(observed):
        observed = None
    low, high = compiled.fail_bounds
    metrics: Mapping[str, Any] = {}
    if observed is None:
        status, figures = Verdict.FAILED, "no value to check (no non-NULL rows in scope)"
    elif compiled.history:  # ops/anomaly.py judges it on the stored history; alone it has none
        status = Verdict.NOT_ENOUGH_HISTORY
        assert compiled.figures is not None
        figures, metrics = compiled.figures(observed)
    else:
        status = Verdict.FAILED if _outside(observed, low, high) else Verdict.PASSED
        if status is Verdict.PASSED and compiled.warn_bounds and _outside(observed, *compiled.warn_bounds):
            status = Verdict.WARNED
        if compiled.figures is not None:
            figures, metrics = compiled.figures(observed)
        else:
            figures = _aggregate_figures(rule, observed, compiled.observed_text(value))
    warn = _describe_bounds(*compiled.warn_bounds, rule.check) if compiled.warn_bounds else None
    fail = "outside its expected band" if compiled.history else _describe_bounds(low, high, rule.check)
    return RuleResult(rule.name, rule.check, str(rule.severity), status, f"{sentence(rule, suite)}: {figures}.",
                      observed, compiled.observed_text(value), warn, fail,
                      None, None, _json_safe(metrics))


def _aggregate_figures(rule: Rule, observed: float, text: str | None) -> str:
    if rule.check == "freshness":
        if text in ("infinity", "-infinity"):  # PostgreSQL's special timestamps
            return f"newest value is {text}"
        return f"newest value {text} is {_age(observed)} old"
    shown = int(observed) if float(observed).is_integer() else round(observed, 6)
    return f"observed {shown:,}" if isinstance(shown, int) else f"observed {shown}"


def _age(seconds: float) -> str:
    whole = int(abs(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{secs}s" if secs or not whole else ""]
    return ("-" if seconds < 0 else "") + " ".join(p for p in parts if p)


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < float(low)) or (high is not None and value > float(high))


def _describe_bounds(low: float | None, high: float | None, check: str) -> str:
    if check == "freshness":
        return f"older than {_age(float(high))}" if high is not None else "never"
    if low is not None and high is not None:
        return f"below {low} or above {high}"
    return f"below {low}" if low is not None else f"above {high}"


def _static(plan: RulePlan, suite: Suite) -> RuleResult:
    rule = plan.rule
    static = plan.compiled.static if plan.compiled else None
    assert static is not None
    status = Verdict.PASSED if static["passed"] else Verdict.FAILED
    return RuleResult(rule.name, rule.check, str(rule.severity), status,
                      f"{sentence(rule, suite)}: {static['detail']}.", static["observed"], static["detail"],
                      None, "any drift", None, None, _json_safe(static["metrics"]))


def _error(rule: Rule, message: str) -> RuleResult:
    if "Hint:" not in message:
        message += " Hint: see the message above; fix the rule or the source and run it again."
    return RuleResult(rule.name, rule.check, str(rule.severity), Verdict.ERROR, f"rule {rule.name!r}: {message}")


def _skipped(rule: Rule) -> RuleResult:
    return RuleResult(rule.name, rule.check, str(rule.severity), Verdict.SKIPPED,
                      f"rule {rule.name!r} is disabled (enabled: false).")


def _replace(result: RuleResult, **changes: Any) -> RuleResult:
    return replace(result, **changes)


class _Fill(dict):
    def __missing__(self, key: str) -> str:
        return {"min": "no minimum", "max": "no maximum"}.get(key, f"{{{key}}}")


def _bounds(params: Mapping[str, Any]) -> str:
    """Bounds in words: "between 1 and 5", "at least 1", "at most 5", "greater than 0 and less than 5"."""
    low, high = params.get("min"), params.get("max")
    low_open, high_open = bool(params.get("min_exclusive")), bool(params.get("max_exclusive"))
    if low is not None and high is not None and not (low_open or high_open):
        return f"between {_show(low)} and {_show(high)}"
    words = []
    if low is not None:
        words.append(f"{'greater than' if low_open else 'at least'} {_show(low)}")
    if high is not None:
        words.append(f"{'less than' if high_open else 'at most'} {_show(high)}")
    return " and ".join(words)


def _threshold(rule: Rule) -> str:
    level = fail_level(rule)
    if level.max_rows is not None:
        return f"{level.max_rows} row{'s' if level.max_rows != 1 else ''}"
    return f"{(level.max_fraction or 0.0) * 100:g}%"


def sentence(rule: Rule, suite: Suite | None) -> str:
    """The check's sentence filled in with the rule's parameters."""
    check = CHECKS.get(rule.check)
    if check is None:
        return f"{rule.name} ({rule.check})"
    fill = _Fill({k: _show(v) for k, v in rule.params.items() if v is not None})
    if isinstance(rule.param("columns"), list | tuple):
        fill["columns"] = ", ".join(str(c) for c in rule.param("columns"))
    fill.setdefault("table", suite.qualified_table if suite else "the table")
    if check.words is not None:
        fill.update(check.words(rule.params))
    fill["bounds"] = _bounds(rule.params)
    fill["threshold"] = _threshold(rule)
    if rule.param("stat") == "quantile":
        fill["stat"] = f"quantile {_show(rule.param('quantile', 0.5))}"
    if "columns" not in fill:
        fill["columns"] = fill.get("column", "every column")
    return check.sentence.format_map(fill)


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(repr(v) if isinstance(v, str) else _show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------------- failing-row samples


def _sample(frame: pl.LazyFrame, plan: RulePlan, spec: ReadSpec, pii: Sequence[str], cap: int) -> tuple[dict, ...]:
    own = [c for c in plan.columns if c in spec.columns]
    columns = own + [c for c in spec.columns if c not in own]
    failing = frame.filter(plan.fail_mask()).select(columns).head(cap)
    try:
        rows = failing.collect().to_dicts()
    except pl.exceptions.PolarsError:
        return ()
    except (ArithmeticError, ValueError):  # a timestamp beyond year 9999 (PostgreSQL 'infinity'): show it as text
        temporal = [pl.col(c).cast(pl.String) for c, t in failing.collect_schema().items() if t.is_temporal()]
        rows = failing.with_columns(temporal).collect().to_dicts()
    hidden = set(pii)
    return tuple({k: (PII_MASK if k in hidden and v is not None else _json_value(v)) for k, v in row.items()}
                 for row in rows)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, Decimal | timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


def _json_safe(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in metrics.items()}
