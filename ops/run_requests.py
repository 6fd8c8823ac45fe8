"""Asking the scheduler to run a suite (or one rule of it) now: `run_dq_checks --async`, the
console's "Run now", the gate and restore all queue a request that a scheduler picks up.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from store import db, scheduling
from store.errors import InvalidTransition, NotFound, StoreError
from store.rules import live_suite

ORIGINS = ("cli", "console", "gate", "restore")


def request_run(suite: str, rule_name: str | None = None, *, requested_by: str, origin: str = "console",
                engine: Engine | None = None) -> int:
    """Queue a run of a live suite (or one of its enabled rules); returns the request id."""
    if origin not in ORIGINS:
        raise StoreError(f"unknown run request origin {origin!r}. Hint: use one of {', '.join(ORIGINS)}.")
    if not requested_by.strip():
        raise StoreError("a run request needs the requesting user. Hint: pass requested_by.")
    live = live_suite(suite, engine)
    if rule_name is not None:
        rule = next((r for r in live.rules if r.name == rule_name), None)
        if rule is None:
            raise NotFound(f"rule {rule_name!r} is not in suite {suite!r}. "
                           f"Hint: its rules are {', '.join(r.name for r in live.rules) or 'none'}.")
        if not rule.enabled:
            raise InvalidTransition(f"rule {rule_name!r} of suite {suite!r} is disabled. "
                                    "Hint: enable it in its manifest and reload, or run the whole suite.")
    with db.write(engine) as conn:
        return scheduling.enqueue_request(conn, suite, rule_name=rule_name, requested_by=requested_by, origin=origin)


def request_status(request_id: int, engine: Engine | None = None) -> scheduling.RunRequest:
    """The request as it stands (pending, claimed, done, failed)."""
    with db.read(engine) as conn:
        found = scheduling.request(conn, request_id)
    if found is None:
        raise NotFound(f"run request #{request_id} does not exist. Hint: check the id printed by --async.")
    return found
