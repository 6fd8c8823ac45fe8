"""The pushdown executor's part of one suite run: choose the executor, run the statements, judge."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl

import settings
from engine import cancel, hints
from engine.errors import EngineError
from engine.plan import Plan, ReadKey, RulePlan
from engine.pushdown import executor
from engine.pushdown.backend import Backend, PushdownTimeout, backend_for
from engine.results import RuleResult, Verdict
from engine.sources import mask, resolve


def execution_of(suite_execution: str | None) -> str:
    return suite_execution or str(settings.get("DQ_EXECUTION")).strip().lower()


def _pushable(plan: RulePlan) -> bool:
    return (plan.error is None and plan.compiled is not None and plan.compiled.static is None
            and plan.check.sql is not None and plan.read == ReadKey())


def evaluate(run: Any, plan: Plan, schema: pl.Schema) -> tuple[list[RuleResult], Plan]:
    from engine import evaluate as ev

    execution = execution_of(run.suite.execution)
    candidates = [p for p in plan.rules if _pushable(p)]
    if execution == "local" or not candidates:
        return [], plan
    source = run.sources[run.suite.source]
    location = resolve(source)
    try:
        backend = backend_for(source, location.url, location.dialect)
    except EngineError as exc:
        if execution == "auto":
            return [], plan
        message = mask(f"table {plan.table}: {exc}")
        return [ev._error(p.rule, message) for p in candidates], _without(plan, candidates)
    try:
        if execution == "auto":
            estimate = backend.estimated_rows(plan.table)
            if estimate is None or estimate < int(settings.get("DQ_PUSHDOWN_AUTO_ROWS")):
                return [], plan
        return _run(run, backend, plan, candidates, schema), _without(plan, candidates)
    finally:
        backend.close()


def _without(plan: Plan, done: list[RulePlan]) -> Plan:
    names = {p.rule.name for p in done}
    return replace(plan, rules=tuple(p for p in plan.rules if p.rule.name not in names))


def _run(run: Any, backend: Backend, plan: Plan, rules: list[RulePlan], schema: pl.Schema) -> list[RuleResult]:
    from engine import evaluate as ev

    timeout = float(settings.get("DQ_PUSHDOWN_TIMEOUT_SECONDS"))
    active = cancel.current()
    remaining = active.remaining() if active is not None else None
    if remaining is not None:  # the run's budget (timeout_seconds) ends it sooner
        timeout = max(0.001, min(timeout, remaining - cancel.MARGIN_SECONDS))
    backend = hints.hinted(backend, plan.hint, plan.table.name)  # the runbook's use_index/query_hint
    relation = backend.relation(plan.table)
    results: list[RuleResult] = []
    forms = {}
    for index, rule_plan in enumerate(rules):
        try:
            forms[index] = executor.sql_form(rule_plan, relation, schema, backend.dialect)
        except EngineError as exc:
            results.append(ev._error(rule_plan.rule, str(exc)))
    try:
        values = executor.aggregates(backend, relation, forms, timeout)
    except PushdownTimeout as exc:
        return results + [ev._error(rules[i].rule, str(exc)) for i in forms]
    columns = [c for p in rules for c in p.columns]
    for index, (ctx, form) in forms.items():
        rule_plan, outcome = rules[index], values.get(index)
        if isinstance(outcome, str):
            results.append(ev._error(rule_plan.rule, mask(outcome)))
            continue
        outcome = dict(outcome or {})
        if form.value is not None:
            result = ev._judge_aggregate(rule_plan, _plain(outcome.get("value")), run.suite)
        else:
            if int(outcome.get("failing") or 0):
                try:
                    outcome |= executor.metrics(backend, form, timeout)
                except PushdownTimeout as exc:
                    results.append(ev._error(rule_plan.rule, str(exc)))
                    continue
            else:
                outcome |= {name: 0 for name in form.metrics}  # nothing failed: nothing duplicated, as locally
            result = ev._judge_rows(rule_plan, outcome, run.suite)
            if result.status in {Verdict.FAILED, Verdict.WARNED} and run.cap > 0:
                own = list(dict.fromkeys([*rule_plan.columns, *columns]))
                try:
                    rows = executor.sample(backend, ctx, form, own, run.cap, timeout)
                except PushdownTimeout as exc:
                    results.append(ev._error(rule_plan.rule, str(exc)))
                    continue
                except EngineError:
                    rows = []
                hidden = set(run.suite.pii_columns)
                sample = tuple({k: (ev.PII_MASK if k in hidden and v is not None else ev._json_value(v))
                                for k, v in row.items()} for row in rows)
                result = ev._replace(result, sample=sample)
        results.append(result)
    return results


def _plain(value: Any) -> Any:
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value
