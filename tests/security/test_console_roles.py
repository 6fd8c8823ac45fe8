"""Red team through the console (AppTest on the real app.py and a real SQLite store): a user in no role sees
every page read-only; a sensitive rule's change needs a second lead; the page and the CLI give one answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from store import db, lifecycle, rule_changes, schema
from tests import seed
from tests.cli.inprocess import run
from tests.ops.store_data import load_rules, write_manifests
from tests.pages.conftest import fresh_caches, open_page  # noqa: F401 - the page tests' fixtures
from tests.security.test_roles_below_pages import LEAD, NOBODY, ON_CALL

LEAD2 = "lead2@company.com"


@pytest.fixture
def loaded(sqlite_store: str, tmp_path: Path) -> str:
    load_rules(write_manifests(tmp_path / "rules"))
    return sqlite_store


def _status(rule: str) -> str:
    return next(s.status for s in lifecycle.list_rules() if s.name == rule)


def test_a_user_in_no_role_sees_a_violation_read_only(loaded, open_page, monkeypatch) -> None:  # noqa: F811
    violation_id = seed.violation(rule_name="orders_id_not_null")
    monkeypatch.setenv("DQ_DEV_USER", NOBODY)
    at = open_page("pages/violations.py", violation=str(violation_id))
    for key in ("detail_ack", "detail_snooze", "run_now"):
        assert at.button(key=key).disabled, key
    assert [b.disabled for b in at.button if b.label == "Resolve"] == [True]
    assert any(f"{NOBODY} (no role) may not acknowledge" in c.value for c in at.caption)


def test_a_user_in_no_role_cannot_retry_alerts_or_change_rules(loaded, open_page, monkeypatch) -> None:  # noqa: F811
    seed.alert(status="failed", sent_at=None)
    monkeypatch.setenv("DQ_DEV_USER", NOBODY)
    at = open_page("pages/alerts.py")
    assert at.button(key="a_retry").disabled
    at = open_page("pages/rules.py")
    assert not [b for b in at.button if b.label == "Apply"]  # no lifecycle form at all
    assert any("may not rule disable" in c.value for c in at.caption)


def test_the_page_and_the_cli_refuse_on_call_with_the_same_reason(loaded, open_page, monkeypatch, capsys) -> None:  # noqa: F811
    monkeypatch.setenv("DQ_DEV_USER", ON_CALL)
    at = open_page("pages/rules.py")
    [caption] = [c.value for c in at.caption if "may not rule disable" in c.value]
    monkeypatch.setenv("DQ_ACTOR", ON_CALL)
    code, _, err = run(capsys, "rules", "disable", "customers_fresh", "--reason", "x")
    reason = err.strip().split("manage.py rules: ", 1)[1]
    assert code == 2 and reason in caption
    assert _status("customers_fresh") == "active"


def _request_disable(author: str) -> int:
    from ops import lifecycle as rule_lifecycle
    from ops import roles

    change = rule_lifecycle.set_rule_state(roles.user(author), "orders_id_not_null", "disabled", "noisy")
    assert isinstance(change, rule_changes.RuleChange)
    return change.id


def test_the_author_cannot_approve_their_own_change_on_the_rule_page(loaded, open_page, monkeypatch) -> None:  # noqa: F811
    change_id = _request_disable(LEAD)
    monkeypatch.setenv("DQ_DEV_USER", LEAD)
    at = open_page("pages/rule.py", name="orders_id_not_null")
    assert at.button(key=f"rc_approve_{change_id}").disabled
    assert any("cannot decide it (four eyes)" in c.value for c in at.caption)


def test_a_second_lead_approves_on_the_rule_page_and_the_rule_changes(loaded, open_page, monkeypatch) -> None:  # noqa: F811
    change_id = _request_disable(LEAD)
    assert _status("orders_id_not_null") == "active"
    monkeypatch.setenv("DQ_DEV_USER", LEAD2)
    at = open_page("pages/rule.py", name="orders_id_not_null")
    at = at.button(key=f"rc_approve_{change_id}").click().run()
    assert not at.exception, at.exception
    assert _status("orders_id_not_null") == "disabled"
    with db.read() as conn:
        actions = conn.execute(sa.select(schema.audit_log.c.action, schema.audit_log.c.actor)
                               .where(schema.audit_log.c.action.like("rule.%")).order_by(schema.audit_log.c.id)).all()
    assert [tuple(a) for a in actions][-3:] == [("rule.change_requested", LEAD), ("rule.disabled", LEAD2),
                                                ("rule.change_approved", LEAD2)]


def test_on_call_sees_the_pending_change_but_cannot_decide(loaded, open_page, monkeypatch) -> None:  # noqa: F811
    change_id = _request_disable(LEAD)
    monkeypatch.setenv("DQ_DEV_USER", ON_CALL)
    at = open_page("pages/rules.py")
    assert any(f"Pending change #{change_id}" in m.value for m in at.markdown)
    assert at.button(key=f"rc_approve_{change_id}").disabled and at.button(key=f"rc_reject_{change_id}").disabled
