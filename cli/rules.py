"""`python manage.py rules {list,enable,disable,retire} [NAME] --reason TEXT`: the rule lifecycle."""

from __future__ import annotations

import argparse
import sys

from cli import UsageError
from cli._common import cli_user
from ops import lifecycle as rule_lifecycle
from store import lifecycle

_STATE = {"enable": "enabled", "disable": "disabled", "retire": "retired"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rules", help="list rules; enable, disable or retire one with a reason")
    parser.add_argument("action", choices=["list", *_STATE], help="list, or the change to make")
    parser.add_argument("name", nargs="?", help="the rule (not for list)")
    parser.add_argument("--reason", help="why (required for enable, disable, retire; goes to the audit log)")
    parser.add_argument("--actor", help="who makes the change (default: DQ_ACTOR or the OS user); needs data_eng_lead or admin in roles.yaml")
    parser.add_argument("--suite", help="list: only this suite")
    parser.add_argument("--status", choices=["active", "disabled", "retired", "removed"], help="list: only this status")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.name:
            raise UsageError(f"list takes no rule name (got {args.name!r}). Hint: use --suite or --status to filter.")
        return _list(args)
    if not args.name:
        raise UsageError(f"{args.action} needs a rule name. Hint: manage.py rules {args.action} NAME --reason \"why\".")
    if not args.reason or not args.reason.strip():
        raise UsageError(f"{args.action} needs --reason. Hint: manage.py rules {args.action} {args.name} --reason \"why\".")
    state = rule_lifecycle.set_rule_state(cli_user(args.actor), args.name, _STATE[args.action], args.reason)
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
