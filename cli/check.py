"""`python manage.py check`: settings, store, manifests, config and every source, as the runbook asks."""

from __future__ import annotations

import argparse
import json

from ops import check


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="check settings, store, rule manifests, config and that every source answers",
        description="Exit 0 when everything is in order, 1 when something is not (each problem with its fix).",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    findings = check.run()
    if args.format == "json":
        print(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        for finding in findings:
            print(f"{'OK  ' if finding.ok else 'FAIL'} {finding.what}: {finding.detail}")
    return 0 if all(f.ok for f in findings) else 1
