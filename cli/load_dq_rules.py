"""`python manage.py load_dq_rules [--dry-run] PATH...`: validate manifests and load them in one transaction."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import settings
from engine.errors import Problem
from engine.manifest import load_catalog
from store import db, migrations
from store.rules import SyncPlan, sync_catalog


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "load_dq_rules", help="validate rule manifests and load them into the store",
        description="Validate rule manifests (files or folders) and load them in one transaction. "
        "Rules removed from a loaded suite are disabled with their history kept; loading a folder "
        "also disables suites missing from it (use --no-prune to keep them). An empty manifest is "
        "refused unless --prune is given; a rule that already belongs to another suite is refused "
        "unless --move is given.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="manifest files or folders (default: DQ_RULES_DIR)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change and write nothing")
    parser.add_argument("--prune", action=argparse.BooleanOptionalAction, default=None,
                        help="disable suites missing from the loaded manifests (default: on when a folder is given)")
    parser.add_argument("--move", action="store_true",
                        help="allow a rule to move to another suite (its history moves with it)")
    parser.add_argument("--user", default="cli", help="who is loading (recorded in rule versions and the audit log)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    rules_dir = settings.get("DQ_RULES_DIR")
    paths = args.paths or [rules_dir]
    prune = args.prune if args.prune is not None else any(p.is_dir() for p in paths)
    catalog = load_catalog(paths, default_sources=rules_dir / "sources.yaml", allow_empty=args.prune is True)
    engine = db.get_engine()
    migrations.require_current(engine)
    with db.write(engine) as conn:
        plan = sync_catalog(conn, catalog, args.user, prune=prune, dry_run=args.dry_run, allow_move=args.move)
        if args.dry_run:
            conn.rollback()
    _print(plan, len(catalog.suites), len(catalog.rules), args, catalog.warnings)
    return 0


def _print(plan: SyncPlan, suites: int, rules: int, args: argparse.Namespace, warnings: Sequence[Problem]) -> None:
    if args.format == "json":
        print(json.dumps({
            "dry_run": args.dry_run, "suites": suites, "rules": rules, "unchanged": plan.unchanged,
            "changes": [{"rule": c.rule, "suite": c.suite, "change": c.change, "diff": c.diff} for c in plan.changes],
            "suites_added": list(plan.suites_added), "suites_disabled": list(plan.suites_disabled),
            "warnings": [str(w) for w in warnings],
        }, indent=2, default=str))
        return
    words = {"added": ("add", "added"), "changed": ("change", "changed"), "restored": ("restore", "restored"),
             "moved": ("move", "moved"), "renamed": ("rename (history kept)", "renamed (history kept)"),
             "removed": ("disable (removed from manifests)", "disabled (removed from manifests)")}
    print(f"{suites} suites, {rules} rules valid.")
    for warning in warnings:
        print(f"  warning: {warning}")
    for change in plan.changes:
        present, past = words[change.change]
        print(f"  {'would ' + present if args.dry_run else past}: {change.rule} [{change.suite}]")
        for key, (old, new) in change.diff.items():
            print(f"      {key}: {old!r} -> {new!r}")
    for name in plan.suites_added:
        print(f"  {'would add' if args.dry_run else 'added'} suite: {name}")
    for name in plan.suites_disabled:
        print(f"  {'would disable' if args.dry_run else 'disabled'} suite: {name}")
    summary = (f"added {plan.count('added')}, changed {plan.count('changed')}, moved {plan.count('moved')}, "
               f"disabled {plan.count('removed')}, restored {plan.count('restored')}, renamed {plan.count('renamed')}, "
               f"unchanged {plan.unchanged}")
    print(f"{'Dry run, nothing written' if args.dry_run else 'Loaded in one transaction'}: {summary}.")
