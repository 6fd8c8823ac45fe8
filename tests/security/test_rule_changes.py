"""Red team, issue 12 deliverable 5: a HIGH or CRITICAL rule on a pii, financial or compliance table is
disabled or retired only after a second data_eng_lead approves; each refusal is audited (SQLite and PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from ops import lifecycle as rule_lifecycle
from ops import roles
from ops.errors import PermissionDenied
from store import db, lifecycle, rule_changes, schema
from store.errors import InvalidTransition, PolicyViolation
from store.rule_changes import RuleChange
from tests.ops.store_data import load_rules, write_manifests

LEAD, LEAD2, ADMIN = "data-eng-lead@company.com", "lead2@company.com", "admin@company.com"
ON_CALL, MANAGER, NOBODY = "oncall@company.com", "manager@company.com", "intruder@example.com"


@pytest.fixture
def loaded(store_url: str, tmp_path: Path) -> str:
    load_rules(write_manifests(tmp_path / "rules"))  # silver.orders is financial; gold.customers has no class
    return store_url


def _status(rule: str) -> str:
    return next(s.status for s in lifecycle.list_rules() if s.name == rule)


def _audit(action: str) -> list[sa.Row]:
    with db.read() as conn:
        return list(conn.execute(sa.select(schema.audit_log).where(schema.audit_log.c.action == action)))


def _request(state: str = "disabled", author: str = LEAD) -> RuleChange:
    change = rule_lifecycle.set_rule_state(roles.user(author), "orders_id_not_null", state, "noisy")
    assert isinstance(change, RuleChange), change
    return change


@pytest.mark.parametrize("state", ["disabled", "retired"])
def test_a_sensitive_rule_change_waits_and_is_audited(loaded, state) -> None:
    change = _request(state)
    assert (change.status, change.severity, change.data_classes) == ("pending", "HIGH", ("financial",))
    assert _status("orders_id_not_null") == "active"
    assert [r.actor for r in _audit("rule.change_requested")] == [LEAD]


@pytest.mark.parametrize("approver", [LEAD, LEAD.upper(), ON_CALL, MANAGER, NOBODY, ""])
def test_only_a_different_lead_may_approve(loaded, approver) -> None:
    change = _request()
    with pytest.raises((PermissionDenied, PolicyViolation), match="Hint:"):
        rule_lifecycle.approve_change(roles.user(approver), change.id)
    assert _status("orders_id_not_null") == "active"
    assert rule_changes.get(change.id).status == "pending"
    [refused] = _audit("rule_change.refused")
    assert refused.actor == (approver or "anonymous") and refused.entity_id == str(change.id)


@pytest.mark.parametrize("approver", [LEAD2, ADMIN])
def test_a_second_lead_or_admin_approves_and_the_rule_changes(loaded, approver) -> None:
    change = _request("retired")
    decided, state = rule_lifecycle.approve_change(roles.user(approver), change.id)
    assert (decided.status, decided.decided_by, state.status) == ("approved", approver, "retired")
    assert [(r.actor, r.details["change_id"]) for r in _audit("rule.change_approved")] == [(approver, change.id)]
    assert [v.changed_by for v in lifecycle.history("orders_id_not_null")][-1] == approver
    with pytest.raises(InvalidTransition, match="is approved, not pending"):
        rule_lifecycle.approve_change(roles.user(ADMIN if approver == LEAD2 else LEAD2), change.id)


def test_the_author_cannot_reject_their_own_either_and_a_reject_needs_a_reason(loaded) -> None:
    change = _request()
    with pytest.raises(PolicyViolation, match="four eyes"):
        rule_lifecycle.reject_change(roles.user(LEAD), change.id, "changed my mind")
    with pytest.raises(PolicyViolation, match="needs a reason"):
        rule_lifecycle.reject_change(roles.user(LEAD2), change.id, "  ")
    assert len(_audit("rule_change.refused")) == 2
    rejected = rule_lifecycle.reject_change(roles.user(LEAD2), change.id, "keep it, fix the feed")
    assert rejected.status == "rejected" and _status("orders_id_not_null") == "active"


def test_one_pending_change_per_rule(loaded) -> None:
    _request()
    with pytest.raises(InvalidTransition, match="already has a pending change request"):
        _request("retired", LEAD2)


@pytest.mark.parametrize(("rule", "why"), [("customers_fresh", "no class"), ("orders_amount_between", "MEDIUM")])
def test_other_rules_change_at_once(loaded, rule, why) -> None:
    state = rule_lifecycle.set_rule_state(roles.user(LEAD), rule, "disabled", why)
    assert not isinstance(state, RuleChange) and _status(rule) == "disabled"


def test_enabling_again_needs_no_second_person(loaded) -> None:
    change = _request()
    rule_lifecycle.approve_change(roles.user(LEAD2), change.id)
    state = rule_lifecycle.set_rule_state(roles.user(LEAD), "orders_id_not_null", "enabled", "fixed")
    assert not isinstance(state, RuleChange) and _status("orders_id_not_null") == "active"
