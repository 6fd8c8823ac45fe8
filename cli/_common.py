"""Helpers shared by the operations commands: the acting user and presenting ops errors."""

from __future__ import annotations

import getpass
import os
import sys

from cli import EXIT_USAGE
from ops import roles
from ops.errors import InvalidRequest, OpsError


def default_actor() -> str:
    """Who runs the command: DQ_ACTOR if set (automation), else the OS user."""
    return os.environ.get("DQ_ACTOR") or f"cli:{getpass.getuser()}"


def cli_user(explicit: str | None = None) -> roles.User:
    """The acting user with their roles from config/roles.yaml: --actor, else DQ_ACTOR, else `cli:<OS user>`.

    The CLI checks the same roles as the console (ops.permissions): give automation's DQ_ACTOR a role.
    """
    return roles.user((explicit or "").strip() or default_actor(), mode="cli")


def report_ops_error(command: str, exc: OpsError) -> int:
    """Print one clear line; bad arguments exit 3, failures that stop the command exit 2."""
    if isinstance(exc, InvalidRequest):
        print(f"manage.py {command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"manage.py {command}: {exc}", file=sys.stderr)
    return 2
