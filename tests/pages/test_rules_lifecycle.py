"""The Rules page's lifecycle form (through app.py) against a real SQLite store: retire with a reason, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from store import db, lifecycle, schema
from tests.ops.store_data import load_rules, write_manifests

PAGE = "pages/rules.py"
LEAD = "data-eng-lead@company.com"


@pytest.fixture(autouse=True)
def store(sqlite_store: str, tmp_path: Path) -> None:
    load_rules(write_manifests(tmp_path / "rules"))


def apply(open_page, monkeypatch: pytest.MonkeyPatch, user: str, rule: str, state: str, reason: str) -> AppTest:
    monkeypatch.setenv("DQ_DEV_USER", user)
    app = open_page(PAGE)
    app.selectbox(key="lc_rule").select(rule)
    app.selectbox(key="lc_state").select(state)
    app.text_input(key="lc_reason").input(reason)
    app = app.button(key="lc_apply").click().run()
    assert not app.exception, app.exception
    return app


def test_a_lead_retires_a_rule_from_the_page_and_its_history_stays(open_page, monkeypatch) -> None:
    app = apply(open_page, monkeypatch, LEAD, "customers_fresh", "retired", "table decommissioned in DATA-42")
    assert [s.value for s in app.success] == ["customers_fresh is now retired."]
    assert [v.change for v in lifecycle.history("customers_fresh")] == ["added", "retired"]
    with db.read() as conn:
        actor = conn.execute(sa.select(schema.audit_log.c.actor).where(schema.audit_log.c.action == "rule.retired")).scalar_one()
    assert actor == LEAD


def test_the_page_shows_why_a_change_is_refused(open_page, monkeypatch) -> None:
    app = apply(open_page, monkeypatch, LEAD, "orders_id_not_null", "active", "again")
    assert "is already active" in app.error[0].value
