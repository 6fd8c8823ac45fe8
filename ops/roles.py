"""Who may do what: the roles file (config/roles.yaml) mapping users to on_call, data_eng_lead, manager, admin."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import configfile
import settings
from configfile import key
from ops.errors import OpsError

ROLES = ("on_call", "data_eng_lead", "manager", "admin")


class RolesError(OpsError, configfile.ConfigFileError):
    """The roles file is malformed."""


@dataclass(frozen=True)
class RolesFile:
    """config/roles.yaml: user name -> roles."""

    users: Mapping[str, tuple[str, ...]] = key(
        {}, choices=ROLES, one_or_many=True, unique=True, example="users: {oncall@company.com: [on_call]}",
    )

    def problems(self) -> Iterator[tuple[str, str, str]]:
        first: dict[str, str] = {}
        for name in self.users:
            if name.lower() in first:
                yield (f"users.{name}", f"is the same user as {first[name.lower()]!r} (names match case-insensitively)",
                       "list each user once, with all of their roles")
            first.setdefault(name.lower(), name)


@dataclass(frozen=True)
class User:
    name: str
    roles: frozenset[str]
    mode: str = "cli"  # oidc | header | dev | cli

    def has(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


def roles_file() -> Path:
    return settings.get("DQ_CONFIG_DIR") / "roles.yaml"


def load_roles(path: Path | None = None) -> dict[str, frozenset[str]]:
    """users (lower case) -> roles from the roles file ({} without one); RolesError names file, line and key."""
    path = path or roles_file()
    if not path.is_file():
        return {}
    parsed = configfile.load(path, RolesFile, error=RolesError)
    return {name.lower(): frozenset(roles) for name, roles in parsed.users.items()}


def user(name: str, mode: str = "cli") -> User:
    return User(name=name, roles=load_roles().get(name.lower(), frozenset()), mode=mode)
