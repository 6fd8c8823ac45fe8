"""Command-line front end: argument parsing and presentation only; the work is in ops/, engine/, store/.

Every module in this package is a command of the same name with `register(subparsers)`. Handlers
return an exit code; errors of the engine, store and manifest packages are caught here and
printed as one clear message (exit 3 for usage errors and unknown names, 2 for errors that stop
the command).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

EXIT_USAGE = 3


class UsageError(Exception):
    """Bad arguments; printed with the command's usage hint, exit code 3."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def command_names() -> list[str]:
    """Every command: one module of this package per command, named like it."""
    package = sys.modules[__name__]
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_"))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that command's module is imported (every runbook call stays fast)."""
    parser = _Parser(prog="manage.py", description="Data-quality operations console CLI.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in [only] if only else command_names():
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def _log_to_file() -> None:
    """Log lines go to DQ_LOG_DIR/cli.log; stderr shows WARNING and worse next to the command's own output."""
    import logging

    from settings import SettingsError
    from telemetry import logs

    try:
        logs.configure("cli", stderr_level=logging.WARNING)
    except SettingsError as exc:  # a bad DQ_LOG_* setting must not stop the runbook's commands
        print(f"manage.py: logging to stderr only: {exc}", file=sys.stderr)


def main(argv: Sequence[str]) -> int:
    from engine.errors import EngineError, ManifestError
    from ops.errors import OpsError
    from settings import SettingsError
    from store.errors import NotFound, StoreError

    argv = list(argv)
    only = argv[0] if argv and argv[0] in command_names() else None
    parser = build_parser(only)
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_through", False):  # only `console` hands options on (to Streamlit)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    if args.command != "scheduler":  # the scheduler logs to stderr and scheduler.log itself
        _log_to_file()
    try:
        return int(args.handler(args) or 0)
    except (UsageError, NotFound) as exc:
        print(f"manage.py {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (EngineError, ManifestError, StoreError, SettingsError, OpsError) as exc:
        print(f"manage.py {args.command}: {exc}", file=sys.stderr)
        return 2
