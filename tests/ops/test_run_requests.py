"""request_run: validated against the live rules, queued with an audit row, readable back."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from ops.run_requests import request_run, request_status
from store import db, schema
from store.errors import InvalidTransition, NotFound, StoreError
from tests.scheduler.helpers import load_rules


def test_a_request_is_queued_pending_and_audited(sqlite_store: str, tmp_path: Path) -> None:
    load_rules(tmp_path / "rules", {"silver_orders": "0 9 * * *"})
    request_id = request_run("silver_orders", "silver_orders_id_not_null", requested_by="ann", origin="cli")
    found = request_status(request_id)
    assert (found.suite, found.rule_name, found.status, found.origin) == ("silver_orders", "silver_orders_id_not_null", "pending", "cli")
    with db.read() as conn:
        audit = conn.execute(sa.select(schema.audit_log.c.actor, schema.audit_log.c.action)
                             .where(schema.audit_log.c.action == "run.requested")).one()
    assert tuple(audit) == ("ann", "run.requested")


@pytest.mark.parametrize(("suite", "rule", "origin", "error", "match"), [
    ("gold.nope", None, "cli", NotFound, r"suite 'gold.nope' is not in the store.*Hint"),
    ("silver_orders", "other_rule", "cli", NotFound, r"rule 'other_rule' is not in suite 'silver_orders' \(no such rule is loaded\).*Hint"),
    ("silver_orders", None, "web", StoreError, r"unknown run request origin 'web'.*Hint"),
])
def test_bad_requests_are_refused_with_the_fix(sqlite_store: str, tmp_path: Path, suite, rule, origin, error, match) -> None:
    load_rules(tmp_path / "rules", {"silver_orders": "0 9 * * *"})
    with pytest.raises(error, match=match):
        request_run(suite, rule, requested_by="ann", origin=origin)


def test_a_disabled_rule_cannot_be_requested(sqlite_store: str, tmp_path: Path) -> None:
    load_rules(tmp_path / "rules", {"silver_orders": "0 9 * * *"})
    with db.write() as conn:
        conn.execute(schema.rules.update().where(schema.rules.c.name == "silver_orders_id_not_null").values(enabled=False, status="disabled"))
    with pytest.raises(InvalidTransition, match="is disabled.*Hint"):
        request_run("silver_orders", "silver_orders_id_not_null", requested_by="ann", origin="console")


def test_an_unknown_request_id_names_the_fix(sqlite_store: str) -> None:
    with pytest.raises(NotFound, match=r"run request #99 does not exist.*Hint"):
        request_status(99)
