"""`python manage.py rules {list,enable,disable,retire} [NAME] --reason TEXT`: the rule lifecycle;
`rules changes` and `rules {approve-change,reject-change} ID`: the second person for sensitive rules.

The acting user (--actor, DQ_ACTOR or `cli:<OS user>`) needs data_eng_lead or admin in config/roles.yaml.
"""

from __future__ import annotations

import argparse
import sys

from cli import UsageError
from cli._common import cli_user
from ops import lifecycle as rule_lifecycle
from store import lifecycle, rule_changes
from store.rule_changes import RuleChange

_STATE = {"enable": "enabled", "disable": "disabled", "retire": "retired"}
_DECISIONS = ("approve-change", "reject-change")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rules", help="list rules; enable, disable or retire one with a reason")
    parser.add_argument("action", choices=["list", *_STATE, "changes", *_DECISIONS],
                        help="list, the change to make, or list/decide pending changes of sensitive rules")
    parser.add_argument("name", nargs="?", help="the rule (not for list), or the change ID for approve-change/reject-change")
    parser.add_argument("--reason", help="why (required for enable, disable, retire, reject-change; goes to the audit log)")
    parser.add_argument("--actor", help="who makes the change (default: DQ_ACTOR or the OS user); needs data_eng_lead or admin in roles.yaml")
    parser.add_argument("--suite", help="list: only this suite")
    parser.add_argument("--status", choices=["active", "disabled", "retired", "removed"], help="list: only this status")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.name:
            raise UsageError(f"list takes no rule name (got {args.name!r}). Hint: use --suite or --status to filter.")
        return _list(args)
    if args.action == "changes":
        return _changes()
    if args.action in _DECISIONS:
        return _decide(args)
    if not args.name:
        raise UsageError(f"{args.action} needs a rule name. Hint: manage.py rules {args.action} NAME --reason \"why\".")
    if not args.reason or not args.reason.strip():
        raise UsageError(f"{args.action} needs --reason. Hint: manage.py rules {args.action} {args.name} --reason \"why\".")
    state = rule_lifecycle.set_rule_state(cli_user(args.actor), args.name, _STATE[args.action], args.reason)
    if isinstance(state, RuleChange):
        print(f"rule {state.rule_name} guards a {', '.join(state.data_classes)} table ({state.severity}): "
              f"change #{state.id} ({state.change}) waits for a second person. Hint: {rule_changes.HINT}.")
        return 0
    print(f"rule {state.name} ({state.suite}) is now {state.status} (version {state.version}): {state.reason}")
    if state.violations_resolved:
        ids = ", ".join(f"#{i}" for i in state.violations_resolved)
        print(f"resolved its open violations {ids} (resolution: other, rule retired)")
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = lifecycle.list_rules(suite=args.suite, status=args.status)
    if not rows:
        print("no rules match. Hint: load rules with `python manage.py load_dq_rules rules/`.", file=sys.stderr)
        return 0
    width = max(len(r.name) for r in rows)
    suite_width = max(len(r.suite) for r in rows)
    for r in rows:
        print(f"{r.name:<{width}}  {r.suite:<{suite_width}}  {r.status:<8}  v{r.version:<3}  {r.reason or ''}".rstrip())
    return 0


def _changes() -> int:
    found = rule_changes.pending()
    if not found:
        print("no pending rule changes")
    for c in found:
        print(f"#{c.id} {c.change:<8} {c.rule_name} ({c.suite}, {c.severity}, {', '.join(c.data_classes)}) "
              f"by {c.requested_by} at {c.requested_at:%Y-%m-%d %H:%M} UTC: {c.reason}")
    return 0


def _decide(args: argparse.Namespace) -> int:
    if not args.name or not args.name.isdigit():
        raise UsageError(f"{args.action} needs a change ID. Hint: `manage.py rules changes` lists them.")
    user = cli_user(args.actor)
    if args.action == "approve-change":
        change, state = rule_lifecycle.approve_change(user, int(args.name))
        print(f"change #{change.id} approved by {user.name}: rule {state.name} is now {state.status} "
              f"(version {state.version})")
        return 0
    if not args.reason or not args.reason.strip():
        raise UsageError(f"reject-change needs --reason. Hint: manage.py rules reject-change {args.name} --reason \"why\".")
    change = rule_lifecycle.reject_change(user, int(args.name), args.reason)
    print(f"change #{change.id} rejected by {user.name}: rule {change.rule_name} stays as it is")
    return 0
