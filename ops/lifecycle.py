"""Rule enable, disable and retire with the role check first; on a sensitive table a second person approves.

Disabling or retiring a HIGH or CRITICAL rule on a pii, financial or compliance table files a pending
request (store/rule_changes.py) instead of changing the rule; a data_eng_lead other than the author
approves or rejects it. Everything else changes at once (store/lifecycle.py writes the rule and its audit row).
"""

from __future__ import annotations

from ops import permissions
from ops.roles import User
from store import rule_changes
from store.lifecycle import RuleState
from store.rule_changes import RuleChange

_ACTION = {"enabled": "rule_enable", "disabled": "rule_disable", "retired": "rule_retire",
           "active": "rule_enable"}


def set_rule_state(user: User, rule_name: str, state: str, reason: str) -> RuleState | RuleChange:
    """Move a rule to `state` as `user` (data_eng_lead or admin), or file the request a second person decides."""
    action = _ACTION.get(state)
    if action is not None:  # an unknown state is refused by the store with the list of states
        permissions.enforce(user, action, "rule", rule_name, rule=rule_name)
    return rule_changes.request_or_apply(rule_name, state, user.name, reason)


def approve_change(user: User, change_id: int) -> tuple[RuleChange, RuleState]:
    """Approve a pending rule change (not your own): the rule changes now."""
    permissions.enforce(user, "rule_change_approve", "rule_change", change_id, change_id=change_id)
    return rule_changes.approve(user, change_id)


def reject_change(user: User, change_id: int, note: str) -> RuleChange:
    """Reject a pending rule change: the rule stays as it is."""
    permissions.enforce(user, "rule_change_reject", "rule_change", change_id, change_id=change_id)
    return rule_changes.reject(user, change_id, note)
