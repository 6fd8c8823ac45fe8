"""`python manage.py settings [--markdown]`: the effective settings (secrets masked), or their reference."""

from __future__ import annotations

import argparse

import settings
from engine.sources import mask_url

SECRET_WORDS = ("PASSWORD", "KEY", "TOKEN", "SECRET", "WEBHOOK", "URL")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("settings", help="show the effective settings (secrets masked)")
    parser.add_argument("--markdown", action="store_true", help="print the reference table of docs/settings.md")
    parser.set_defaults(handler=handle)


def masked(name: str, value: object) -> str:
    text = "" if value is None else str(value)
    if text and any(word in name for word in SECRET_WORDS) and name not in ("DQ_CONSOLE_URL",):
        return mask_url(text) if "://" in text else "***"
    return text


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
