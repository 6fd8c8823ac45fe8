"""Where the console may listen: dev mode (no OIDC `[auth]`, no DQ_AUTH_HEADER) lets anyone who
reaches it act as DQ_DEV_USER, so it listens on 127.0.0.1 only unless DQ_DEV_ALLOW_REMOTE says otherwise.

Streamlit itself listens on every interface by default; `python manage.py console` (what
scripts/start.sh runs) applies this rule before it starts `streamlit run serve.py` (app.py behind it).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import settings

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Launch:
    args: tuple[str, ...]  # for `streamlit run serve.py`
    mode: str  # oidc | header | dev
    address: str | None  # None = Streamlit's default (every interface)


class RemoteDevMode(Exception):
    """Dev mode asked to listen beyond 127.0.0.1 without DQ_DEV_ALLOW_REMOTE."""


def _option(args: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text()) if path.is_file() else {}
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def auth_mode(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """oidc when a secrets file Streamlit reads has `[auth]`, header when DQ_AUTH_HEADER is set, else dev."""
    env = os.environ if env is None else env
    files = [Path(p) for p in (_option(args, "--secrets.files") or "").split(",") if p.strip()]
    if any("auth" in _toml(path) for path in files) or "auth" in settings.read_secrets():
        return "oidc"
    if settings.get("DQ_AUTH_HEADER", env):
        return "header"
    return "dev"


def plan(args: Sequence[str], env: Mapping[str, str] | None = None, root: Path = settings.ROOT) -> Launch:
    """The Streamlit arguments to start with, or RemoteDevMode naming the fix."""
    env = os.environ if env is None else env
    mode = auth_mode(args, env)
    server = _toml(root / ".streamlit" / "config.toml").get("server", {})
    address = _option(args, "--server.address") or env.get("STREAMLIT_SERVER_ADDRESS") or (
        str(server.get("address")) if isinstance(server, dict) and server.get("address") else None)
    if mode != "dev":
        return Launch(tuple(args), mode, address)
    if address is None:  # Streamlit's default is every interface: not for dev mode
        return Launch((*args, "--server.address", LOOPBACK), mode, LOOPBACK)
    if address != LOOPBACK and not settings.get("DQ_DEV_ALLOW_REMOTE", env):
        raise RemoteDevMode(
            f"the console is in dev mode (no OIDC `[auth]` in secrets.toml, no DQ_AUTH_HEADER): anyone who "
            f"reaches {address} would act as {settings.get('DQ_DEV_USER', env)!r}, so it listens on {LOOPBACK} only. "
            "Hint: configure OIDC or DQ_AUTH_HEADER (docs/operations.md), or set DQ_DEV_ALLOW_REMOTE=true "
            "if this machine is private."
        )
    return Launch(tuple(args), mode, address)
