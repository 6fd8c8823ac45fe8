"""Who may do what (CONTRACTS.md): `decide` answers without raising, `require` raises PermissionDenied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops import roles
from ops.approvers import people
from ops.errors import PermissionDenied
from store import approval_matrix
from store import bypass as bypass_store
from store.errors import StoreError

ACTIONS = ("acknowledge", "snooze", "resolve", "run_now", "alert_retry",
           "rule_enable", "rule_disable", "rule_retire",
           "bypass_request", "bypass_approve", "bypass_reject", "bypass_restore", "bypass_revoke",
           "manual_fix_record", "metric_exclude")
OPERATORS = ("on_call", "data_eng_lead", "manager", "admin")
RULE_OWNERS = ("data_eng_lead", "admin")
NEEDS = {action: OPERATORS for action in ACTIONS} | {a: RULE_OWNERS for a in ("rule_enable", "rule_disable", "rule_retire")}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # why not, ending with a Hint naming who can (people from roles.yaml)


def decide(user: roles.User, action: str, **context: Any) -> Decision:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}. Hint: one of {', '.join(ACTIONS)}.")
    wanted = NEEDS[action]
    if not any(user.has(r) for r in wanted):
        held = ", ".join(sorted(user.roles)) or "no role"
        return Decision(False, f"{user.name} ({held}) may not {action.replace('_', ' ')}. "
                               f"Hint: ask {people(wanted)}.")
    if action in ("bypass_approve", "bypass_reject") and "request_id" in context:
        return _bypass_decision(user, action, int(context["request_id"]))
    return Decision(True)


def _bypass_decision(user: roles.User, action: str, request_id: int) -> Decision:
    verb = "approve" if action == "bypass_approve" else "reject"
    try:
        request = bypass_store.get(request_id)
        matrix = approval_matrix.load()
    except StoreError as exc:
        return Decision(False, str(exc))
    if request.status != "pending":
        return Decision(False, f"bypass #{request_id} is {request.status}, not pending. Hint: nothing to {verb}.")
    if matrix.forbidden_classes(request.data_classes):
        return Decision(False, f"{request.table_name} can never be bypassed. Hint: reject it; fix the data instead.")
    policy = matrix.policy(request.layer)
    if policy is None:
        return Decision(False, f"layer {request.layer!r} is not in the approval matrix. Hint: fix {matrix.file}.")
    covered = {a.role for a in request.approvals if a.decision == "approve"}
    needed = [r for r in policy.approvers if r not in covered]
    done = {a.approver for a in request.approvals} | {request.requested_by}
    if user.name.lower() == request.requested_by.lower():
        return Decision(False, f"you requested bypass #{request_id} and cannot {verb} it (four eyes). "
                               f"Hint: ask {people(needed, done)}.")
    if verb == "approve" and user.name.lower() in {a.approver.lower() for a in request.approvals}:
        return Decision(False, f"you have already approved bypass #{request_id}. Hint: it now needs "
                               f"{people(needed, done)}.")
    if verb == "approve" and not any(user.has(r) for r in needed):
        return Decision(False, f"bypass #{request_id} still needs {' + '.join(needed)}, which you do not hold. "
                               f"Hint: ask {people(needed, done)}.")
    if verb == "reject" and not any(user.has(r) for r in policy.approvers):
        return Decision(False, f"only an approver of {request.layer} bypasses may reject it. "
                               f"Hint: ask {people(list(policy.approvers), done)}.")
    return Decision(True)


def require(user: roles.User, action: str, **context: Any) -> None:
    decision = decide(user, action, **context)
    if not decision.allowed:
        raise PermissionDenied(decision.reason)
