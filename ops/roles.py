"""Who may do what: the roles file (config/roles.yaml) mapping users to on_call, data_eng_lead, manager, admin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

import settings

ROLES = ("on_call", "data_eng_lead", "manager", "admin")


class RolesError(Exception):
    """The roles file is missing or malformed."""


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
    """users -> roles from the roles file; an unknown role is an error naming the file."""
    path = path or roles_file()
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    users = data.get("users", {}) if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise RolesError(f"{path}: expected a mapping `users: {{name: [roles]}}`. Hint: see docs/console.md.")
    result: dict[str, frozenset[str]] = {}
    for name, roles in users.items():
        roles = [roles] if isinstance(roles, str) else roles
        unknown = [r for r in roles or [] if r not in ROLES]
        if unknown:
            raise RolesError(
                f"{path}: user {name!r} has unknown role(s) {unknown}. Hint: use any of {', '.join(ROLES)}."
            )
        result[str(name).lower()] = frozenset(roles or [])
    return result


def user(name: str, mode: str = "cli") -> User:
    return User(name=name, roles=load_roles().get(name.lower(), frozenset()), mode=mode)
