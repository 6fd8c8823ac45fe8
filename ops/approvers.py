"""Who holds a role, in words for hints and captions: the people listed in config/roles.yaml."""

from __future__ import annotations

from ops import roles


def people(wanted: tuple[str, ...] | list[str], exclude: set[str] | None = None, *, with_admin: bool = True) -> str:
    """'a@x, b@x (data_eng_lead) or admin@x (admin)', from config/roles.yaml."""
    exclude = {e.lower() for e in exclude or set()}
    try:
        table = roles.load_roles()
    except roles.RolesError:  # shown once with its line and fix by manage.py check and the console's banner
        return "nobody until config/roles.yaml is fixed (see the configuration problem)"
    groups = []
    for role in [*wanted, *(["admin"] if with_admin and "admin" not in wanted else [])]:
        names = sorted(n for n, held in table.items() if role in held and n not in exclude)
        if names:
            groups.append(f"{', '.join(names)} ({role})")
    return " or ".join(groups) or f"nobody yet: add someone with {' or '.join(wanted)} to config/roles.yaml"
