"""`python manage.py settings [--markdown]`: the effective settings (secrets masked), or their reference."""

from __future__ import annotations

import argparse

import settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("settings", help="show the effective settings (secrets masked)")
    parser.add_argument("--markdown", action="store_true", help="print the reference table of docs/settings.md")
    parser.set_defaults(handler=handle)


def masked(name: str, value: object) -> str:
    return settings.redact(name, value)


def handle(args: argparse.Namespace) -> int:
    if args.markdown:
        print(reference())
        return 0
    for name in settings.SETTINGS:
        print(f"{name}={masked(name, settings.get(name))}")
    return 0


def reference() -> str:
    lines = ["| setting | default | meaning |", "| --- | --- | --- |"]
    for s in settings.SETTINGS.values():
        default = "(computed)" if s.default is None else f"`{s.default}`" if s.default else "(empty)"
        lines.append(f"| `{s.name}` | {default} | {s.doc} |")
    return "\n".join(lines)
