"""Run requests: "run this suite (or one rule of it) soon", picked up by the scheduler.

Stand-in until `ops.run_requests.request_run` from the scheduler branch lands; same signature,
so the console switches by import without changing a call.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import clock
from store import audit, db
from store.errors import NotFound, StoreError
from store.schema import rules, run_requests, suites

ORIGINS = ("cli", "console", "gate", "restore")


def request_run(suite: str, rule_name: str | None = None, *, requested_by: str, origin: str = "console",
                engine: Engine | None = None) -> int:
    """Queue a run of `suite` (or only `rule_name`) for the scheduler; returns the request id."""
    if origin not in ORIGINS:
        raise StoreError(f"unknown run request origin {origin!r}. Hint: use one of {', '.join(ORIGINS)}.")
    if not requested_by.strip():
        raise StoreError("a run request needs the requesting user. Hint: pass requested_by.")
    with db.write(engine) as conn:
        if conn.execute(sa.select(suites.c.id).where(suites.c.name == suite)).first() is None:
            known = conn.execute(sa.select(rules.c.id).where(rules.c.suite == suite).limit(1)).first()
            if known is None:
                raise NotFound(f"suite {suite!r} is not in the store. Hint: load it with `manage.py load_dq_rules`.")
        if rule_name is not None:
            owner = conn.execute(sa.select(rules.c.suite).where(rules.c.name == rule_name)).scalar()
            if owner != suite:
                raise NotFound(
                    f"rule {rule_name!r} is not in suite {suite!r}. Hint: check the rule name on the Rules page."
                )
        request_id = conn.execute(
            run_requests.insert().values(
                suite=suite, rule_name=rule_name, requested_by=requested_by, requested_at=clock.utcnow(),
                origin=origin, status="pending",
            )
        ).inserted_primary_key[0]
        audit.record(conn, requested_by, "run.requested", "run_request", request_id,
                     suite=suite, rule_name=rule_name, origin=origin)
    return int(request_id)
