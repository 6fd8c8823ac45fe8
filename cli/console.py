"""`python manage.py console [--check] [STREAMLIT ARGS...]`: start the Streamlit console, on 127.0.0.1
only while it is in dev mode (ops.console_launch)."""

from __future__ import annotations

import argparse
import os
import sys

from cli import UsageError
from ops import console_launch
from settings import ROOT


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "console", help="start the console (`streamlit run serve.py`); dev mode listens on 127.0.0.1 only",
        description="Start the Streamlit console. Without OIDC ([auth] in secrets.toml) or DQ_AUTH_HEADER the "
        "console is in dev mode and refuses any address but 127.0.0.1 unless DQ_DEV_ALLOW_REMOTE=true.",
    )
    parser.add_argument("--check", action="store_true", help="only check the address rule and print the command")
    parser.set_defaults(handler=handle, passes_through=True)  # other options go to `streamlit run serve.py`


def handle(args: argparse.Namespace) -> int:
    try:
        launch = console_launch.plan(args.extra)
    except console_launch.RemoteDevMode as exc:
        raise UsageError(str(exc)) from exc
    # serve.py runs app.py with deep links that probe no wrong address (console/server.py).
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"), *launch.args]
    where = launch.address or "every interface"
    if launch.mode == "dev" and launch.address != console_launch.LOOPBACK:
        print(f"manage.py console: warning: dev mode on {where} (DQ_DEV_ALLOW_REMOTE=true)", file=sys.stderr)
    if args.check:
        print(f"console ({launch.mode} mode, listening on {where}): {' '.join(command[1:])}")
        return 0
    sys.stdout.flush()
    os.execv(sys.executable, command)  # the console replaces this process (signals reach Streamlit)
    return 0  # pragma: no cover
