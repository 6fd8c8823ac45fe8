"""Asking the scheduler to run a suite (or one rule of it) now: `run_dq_checks --async`, the
console's "Run now", the gate and restore all queue a request that a scheduler picks up.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from ops import permissions
from ops.roles import User
from store import db, scheduling
from store.errors import InvalidTransition, NotFound, StoreError

ORIGINS = ("cli", "console", "gate", "restore")


def request_run(suite: str, rule_name: str | None = None, *, requested_by: str, origin: str = "console",
                engine: Engine | None = None) -> int:
    """Queue a run of a live suite (or one of its enabled rules); returns the request id."""
    if origin not in ORIGINS:
        raise StoreError(f"unknown run request origin {origin!r}. Hint: use one of {', '.join(ORIGINS)}.")
    if not requested_by.strip():
        raise StoreError("a run request needs the requesting user. Hint: pass requested_by.")
    with db.write(engine) as conn:
        _check_target(scheduling.request_target(conn, suite, rule_name), suite, rule_name)
        return scheduling.enqueue_request(conn, suite, rule_name=rule_name, requested_by=requested_by, origin=origin)


def run_now(user: User, suite: str, rule_name: str | None = None, *, origin: str = "console") -> int:
    """A person's "Run now" (the console's button, `run_dq_checks --async`): role check, then queue."""
    permissions.enforce(user, "run_now", "run_request", None, suite=suite, rule=rule_name)
    return request_run(suite, rule_name, requested_by=user.name, origin=origin)


def _check_target(target: scheduling.Target, suite: str, rule_name: str | None) -> None:
    load = "Hint: load it with `python manage.py load_dq_rules rules/` and check the name."
    if target.suite_enabled is None:
        raise NotFound(f"suite {suite!r} is not in the store. {load}")
    if not target.suite_enabled:
        raise InvalidTransition(f"suite {suite!r} is disabled (missing from the loaded manifests). {load}")
    if rule_name is None:
        return
    if target.rule_suite != suite:
        where = f"it belongs to suite {target.rule_suite!r}" if target.rule_suite else "no such rule is loaded"
        raise NotFound(f"rule {rule_name!r} is not in suite {suite!r} ({where}). "
                       "Hint: check the rule name on the Rules page or with `python manage.py rules list`.")
    if target.rule_status not in ("active", "disabled") or not target.rule_enabled:
        raise InvalidTransition(f"rule {rule_name!r} of suite {suite!r} is {target.rule_status}. "
                                "Hint: enable it in its manifest and reload, or run the whole suite.")


def request_status(request_id: int, engine: Engine | None = None) -> scheduling.RunRequest:
    """The request as it stands (pending, claimed, done, failed)."""
    with db.read(engine) as conn:
        found = scheduling.request(conn, request_id)
    if found is None:
        raise NotFound(f"run request #{request_id} does not exist. Hint: check the id printed by --async.")
    return found
