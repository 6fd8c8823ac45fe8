"""Rule enable, disable and retire with the role check first (store/lifecycle.py writes the rule and its audit row)."""

from __future__ import annotations

from ops import permissions
from ops.roles import User
from store import lifecycle
from store.lifecycle import RuleState

_ACTION = {"enabled": "rule_enable", "disabled": "rule_disable", "retired": "rule_retire",
           "active": "rule_enable"}


def set_rule_state(user: User, rule_name: str, state: str, reason: str) -> RuleState:
    """Move a rule to `state` as `user`, who must hold data_eng_lead or admin."""
    action = _ACTION.get(state)
    if action is not None:  # an unknown state is refused by the store with the list of states
        permissions.enforce(user, action, "rule", rule_name, rule=rule_name)
    return lifecycle.set_rule_state(rule_name, state, user.name, reason)
