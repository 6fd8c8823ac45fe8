"""Live rules in the store: syncing parsed manifests (with versions and audit) and reading them back.

Loading is one transaction: every rule lands or none does. Rules of a loaded suite that the
manifest no longer has are disabled (status `removed`), their history kept. A rule whose manifest
says `renamed_from: OLD` takes over OLD's row (same id, versions, results and open violations)
instead of starting afresh, so reviews count its whole history as one rule. Loading a folder
is the whole truth (`prune`): suites missing from it are disabled too. A rule disabled or
retired through the lifecycle commands stays so on reload unless its manifest `enabled` flips.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import clock
from engine.manifest import ManifestError, rule_hash, suite_from_definitions
from engine.model import Catalog, Rule, Suite
from store import audit, db, table_classes
from store.errors import NotFound, RuleMoveRefused
from store.schema import rule_versions, rules, suites, violations

log = logging.getLogger(__name__)
LIVE = ("active", "disabled")  # statuses whose rules belong to their suite; retired/removed do not


@dataclass(frozen=True)
class RuleChange:
    rule: str
    suite: str
    change: str  # added changed moved renamed removed restored
    diff: dict[str, Any] = field(default_factory=dict)  # field -> [old, new]


@dataclass(frozen=True)
class SyncPlan:
    changes: tuple[RuleChange, ...]
    unchanged: int
    suites_added: tuple[str, ...] = ()
    suites_disabled: tuple[str, ...] = ()

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.suites_added and not self.suites_disabled


def _rule_row(rule: Rule, suite: Suite) -> dict[str, Any]:
    return {
        "name": rule.name, "suite": suite.name, "source": suite.source, "table_name": suite.qualified_table,
        "check_type": rule.check, "params": dict(rule.params), "severity": rule.severity.value,
        "schedule": rule.schedule or suite.schedule, "use_sampling": rule.use_sampling,
        "sample_size": rule.sample_size, "partition_column": rule.partition_column,
        "alert_cooldown_minutes": rule.alert_cooldown_minutes, "owner": rule.owner or suite.owner,
        "description": rule.description, "file": rule.file, "line": rule.line,
        "definition": dict(rule.definition), "definition_hash": rule_hash(rule, suite),
    }


def _suite_row(suite: Suite) -> dict[str, Any]:
    return {
        "name": suite.name, "source": suite.source, "table_name": suite.qualified_table,
        "layer": suite.layer.value, "data_classes": [d.value for d in suite.data_classes],
        "pii_columns": list(suite.pii_columns), "schedule": suite.schedule, "owner": suite.owner,
        "description": suite.description, "file": suite.file, "definition": dict(suite.definition),
        "enabled": suite.enabled,
    }


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    keys = sorted(set(old) | set(new))
    return {k: [old.get(k), new.get(k)] for k in keys if old.get(k) != new.get(k)}


def plan_sync(conn: Connection, catalog: Catalog, *, prune: bool = False) -> SyncPlan:
    """What loading `catalog` would change, without writing anything."""
    existing = {r.name: r for r in conn.execute(sa.select(rules)).mappings()}
    existing_suites = {s.name: s for s in conn.execute(sa.select(suites)).mappings()}
    loaded_suites = {s.name for s in catalog.suites}
    changes: list[RuleChange] = []
    unchanged = 0
    seen: set[str] = set()
    loaded_names = {rule.name for suite in catalog.suites for rule in suite.rules}
    for suite in catalog.suites:
        for rule in suite.rules:
            seen.add(rule.name)
            row = existing.get(rule.name)
            new = _rule_row(rule, suite)
            if row is None:
                old = _renamed_from(rule, existing, loaded_names, seen)
                if old is not None:
                    seen.add(old)
                    diff = {"name": [old, rule.name], **_diff(dict(existing[old]["definition"]), new["definition"])}
                    if existing[old]["suite"] != suite.name:
                        diff["suite"] = [existing[old]["suite"], suite.name]
                    changes.append(RuleChange(rule.name, suite.name, "renamed", diff))
                    continue
                changes.append(RuleChange(rule.name, suite.name, "added"))
                continue
            old_definition = dict(row["definition"])
            if row["status"] == "removed":
                changes.append(RuleChange(rule.name, suite.name, "restored", _diff(old_definition, new["definition"])))
            elif row["definition_hash"] != new["definition_hash"]:
                diff = _diff(old_definition, new["definition"])
                moved = row["suite"] != suite.name
                if moved:
                    diff["suite"] = [row["suite"], suite.name]
                    diff["file"] = [_where(row["file"], row["line"]), _where(rule.file, rule.line)]
                if row["table_name"] != new["table_name"] or row["source"] != new["source"]:
                    diff["table"] = [f"{row['source']}:{row['table_name']}", f"{new['source']}:{new['table_name']}"]
                changes.append(RuleChange(rule.name, suite.name, "moved" if moved else "changed", diff))
            else:
                unchanged += 1
    scope = set(existing_suites) if prune else loaded_suites
    for name, row in existing.items():
        if name not in seen and row["suite"] in scope and row["status"] in LIVE:
            changes.append(RuleChange(name, row["suite"], "removed"))
    added = tuple(sorted(loaded_suites - set(existing_suites)))
    disabled = tuple(sorted(n for n, s in existing_suites.items() if prune and n not in loaded_suites and s["enabled"]))
    return SyncPlan(tuple(changes), unchanged, added, disabled)


def _renamed_from(rule: Rule, existing: dict[str, Any], loaded: set[str], taken: set[str]) -> str | None:
    """The stored rule this one was renamed from, if its old name is stored and not loaded itself."""
    old = rule.definition.get("renamed_from")
    if isinstance(old, str) and old in existing and old not in loaded and old not in taken:
        return old
    return None


def _where(file: str | None, line: int | None) -> str:
    return f"{file or '<store>'}:{line}" if line else (file or "<store>")


def refuse_moves(plan: SyncPlan) -> None:
    """A rule name already used by another suite is almost always a copy-paste slip, not a move."""
    moves = [c for c in plan.changes if c.change == "moved"]
    if not moves:
        return
    lines = "; ".join(f"rule {c.rule!r} belongs to suite {c.diff['suite'][0]!r} ({c.diff['file'][0]}), "
                      f"but {c.diff['file'][1]} defines it in suite {c.diff['suite'][1]!r}" for c in moves)
    raise RuleMoveRefused(f"{lines}. Hint: rename the new rule, or pass --move to move "
                          f"{'it' if len(moves) == 1 else 'them'} with {'its' if len(moves) == 1 else 'their'} history.")


def sync_catalog(conn: Connection, catalog: Catalog, actor: str, *, prune: bool = False,
                 dry_run: bool = False, allow_move: bool = False) -> SyncPlan:
    """Apply `catalog` inside the caller's transaction; returns the plan it applied.

    A rule that moves to another suite is refused (RuleMoveRefused) unless `allow_move`, in a
    dry run as well, so the dry run predicts the load.
    """
    plan = plan_sync(conn, catalog, prune=prune)
    if not allow_move:
        refuse_moves(plan)
    if dry_run:
        return plan
    now = clock.utcnow()
    for suite in catalog.suites:
        _upsert_suite(conn, suite, now)
    by_name = {r.name: (r, s) for s in catalog.suites for r in s.rules}
    for change in plan.changes:
        if change.change == "removed":
            _set_status(conn, change.rule, "removed", False, "removed from the manifests", actor, now)
            continue
        rule, suite = by_name[change.rule]
        _write_rule(conn, rule, suite, change, actor, now)
    for name in plan.suites_disabled:
        conn.execute(suites.update().where(suites.c.name == name).values(enabled=False, updated_at=now))
        audit.record(conn, actor, "suite.disabled", "suite", name, reason="missing from the loaded manifests")
    # Classes belong to the table: the union over every suite naming it; removals wait for approval.
    table_classes.reconcile(conn, actor, now, {(s.source, s.qualified_table) for s in catalog.suites})
    return plan


def _upsert_suite(conn: Connection, suite: Suite, now: Any) -> None:
    values = {**_suite_row(suite), "updated_at": now}
    updated = conn.execute(suites.update().where(suites.c.name == suite.name).values(**values))
    if updated.rowcount == 0:
        conn.execute(suites.insert().values(**values))


def _write_rule(conn: Connection, rule: Rule, suite: Suite, change: RuleChange, actor: str, now: Any) -> None:
    values = _rule_row(rule, suite)
    stored_name = change.diff["name"][0] if change.change == "renamed" else rule.name
    current = conn.execute(sa.select(rules).where(rules.c.name == stored_name)).mappings().first()
    if current is None:
        version = 1
        conn.execute(rules.insert().values(
            **values, enabled=rule.enabled, status="active" if rule.enabled else "disabled",
            status_reason=None if rule.enabled else "enabled: false in the manifest",
            version=version, created_at=now, updated_at=now,
        ))
    else:
        version = current["version"] + 1
        enabled, status = current["enabled"], current["status"]
        if status == "removed" or bool(current["definition"].get("enabled", True)) != rule.enabled:
            enabled, status = rule.enabled, "active" if rule.enabled else "disabled"
        conn.execute(rules.update().where(rules.c.name == stored_name).values(
            **values, enabled=enabled, status=status, version=version, updated_at=now,
        ))
        if stored_name != rule.name:  # its versions and open episodes follow it; results keep the name they ran under
            conn.execute(rule_versions.update().where(rule_versions.c.rule_name == stored_name).values(rule_name=rule.name))
            conn.execute(violations.update().where(violations.c.rule_name == stored_name,
                                                   violations.c.status != "resolved").values(rule_name=rule.name))
    conn.execute(rule_versions.insert().values(
        rule_name=rule.name, version=version, change=change.change, definition=values["definition"],
        diff=change.diff, changed_by=actor, changed_at=now,
    ))
    audit.record(conn, actor, f"rule.{change.change}", "rule", rule.name, suite=suite.name, version=version, diff=change.diff)


def _set_status(conn: Connection, name: str, status: str, enabled: bool, reason: str, actor: str, now: Any) -> None:
    row = conn.execute(sa.select(rules.c.version, rules.c.definition).where(rules.c.name == name)).one()
    version = row.version + 1
    conn.execute(rules.update().where(rules.c.name == name).values(
        status=status, enabled=enabled, status_reason=reason, version=version, updated_at=now))
    conn.execute(rule_versions.insert().values(
        rule_name=name, version=version, change=status, definition=row.definition, diff={},
        changed_by=actor, changed_at=now, reason=reason))
    audit.record(conn, actor, f"rule.{status}", "rule", name, reason=reason, version=version)


# --- reading live rules ----------------------------------------------------------------------


def _suite_with_rules(suite_row: Any, rule_rows: Sequence[Any]) -> Suite:
    suite = suite_from_definitions(suite_row["definition"], [r["definition"] for r in rule_rows],
                                   file=suite_row["file"] or "<store>")
    state = {r["name"]: r["enabled"] for r in rule_rows}
    return dataclasses.replace(
        suite, rules=tuple(dataclasses.replace(r, enabled=bool(state[r.name])) for r in suite.rules)
    )


def live_suites(engine: Engine | None = None) -> list[Suite]:
    """Every enabled suite with its live (active or disabled, not retired/removed) rules."""
    with db.read(engine) as conn:
        suite_rows = conn.execute(sa.select(suites).where(suites.c.enabled.is_(True)).order_by(suites.c.name)).mappings().all()
        rule_rows = conn.execute(sa.select(rules).where(rules.c.status.in_(LIVE)).order_by(rules.c.id)).mappings().all()
    by_suite: dict[str, list[Any]] = {}
    for row in rule_rows:
        by_suite.setdefault(row["suite"], []).append(row)
    # A table's PII columns are masked in every suite naming it, not only in the one that lists them.
    masked: dict[tuple[str, str], set[str]] = {}
    for suite_row in suite_rows:
        key = table_classes.identity(suite_row["source"], suite_row["table_name"])
        masked.setdefault(key, set()).update(suite_row["pii_columns"] or ())
    live = []
    for suite_row in suite_rows:
        try:
            suite = _suite_with_rules(suite_row, by_suite.get(suite_row["name"], []))
            table_pii = masked[table_classes.identity(suite_row["source"], suite_row["table_name"])]
            extra = sorted(table_pii - set(suite.pii_columns))
            live.append(dataclasses.replace(suite, pii_columns=(*suite.pii_columns, *extra)) if extra else suite)
        except ManifestError as exc:
            # One unreadable stored suite (e.g. written by a newer version) must not hide the others.
            log.error("suite %s skipped: %s", suite_row["name"], exc)
    return live


def live_suite(name: str, engine: Engine | None = None) -> Suite:
    for suite in live_suites(engine):
        if suite.name == name:
            return suite
    with db.read(engine) as conn:
        known = conn.execute(sa.select(suites.c.name, suites.c.enabled).where(suites.c.name == name)).first()
    if known is not None:
        raise NotFound(f"suite {name!r} is disabled (missing from the loaded manifests). "
                       "Hint: add it back to rules/ and run `python manage.py load_dq_rules rules/`.")
    raise NotFound(f"suite {name!r} is not in the store. Hint: run `python manage.py load_dq_rules rules/` "
                   "or check the name with `python manage.py rules list`.")


def suite_of_rule(rule_name: str, engine: Engine | None = None) -> str:
    with db.read(engine) as conn:
        row = conn.execute(sa.select(rules.c.suite, rules.c.status).where(rules.c.name == rule_name)).first()
    if row is None:
        raise NotFound(f"rule {rule_name!r} is not in the store. Hint: load it with "
                       "`python manage.py load_dq_rules rules/` and check the name.")
    if row.status not in LIVE:
        raise NotFound(f"rule {rule_name!r} is {row.status}. Hint: restore it in its manifest and reload.")
    return str(row.suite)
