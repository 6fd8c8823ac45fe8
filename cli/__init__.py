"""Command-line front end: argument parsing and presentation only; the work is in ops/, engine/, store/.

Every module in this package that defines `register(subparsers)` is a command. Handlers
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="manage.py", description="Data-quality operations console CLI.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    package = sys.modules[__name__]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str]) -> int:
    from engine.errors import EngineError
    from engine.manifest import ManifestError
    from settings import SettingsError
    from store.errors import NotFound, StoreError

    parser = build_parser()
    args = parser.parse_args(list(argv))
    try:
        return int(args.handler(args) or 0)
    except (UsageError, NotFound) as exc:
        print(f"manage.py {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (EngineError, ManifestError, StoreError, SettingsError) as exc:
        print(f"manage.py {args.command}: {exc}", file=sys.stderr)
        return 2
