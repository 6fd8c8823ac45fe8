"""A manual fix (failover Option C) on the Bypass requests page: approved like a bypass, shown in the history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ops import manual_fix
from ops.roles import user
from store import bypass
from tests.bypass_rows import add_blocked_suite, checklist

ONCALL, LEAD = "oncall@company.com", "data-eng-lead@company.com"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FIX_SQL = "UPDATE silver.orders SET id = 2 WHERE id IS NULL;\n"


@pytest.fixture
def page(sqlite_store: str, open_page, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], AppTest]:
    def as_user(name: str) -> AppTest:
        monkeypatch.setenv("DQ_DEV_USER", name)
        app = open_page("pages/bypass_requests.py")
        monkeypatch.setenv("DQ_NOW", T0.isoformat())
        return app

    monkeypatch.setenv("DQ_NOW", T0.isoformat())
    add_blocked_suite("silver.orders", "silver")
    return as_user


def test_a_manual_fix_is_approved_on_the_page_and_shown_in_the_history(page, tmp_path: Path) -> None:
    sql = tmp_path / "fix.sql"
    sql.write_text(FIX_SQL)
    record_id = manual_fix.record(user(ONCALL), checklist("silver.orders", hours=0), sql)

    lead = page(LEAD)
    assert f"#{record_id} manual fix: silver.orders (silver)" in [s.value for s in lead.subheader]
    lead.button(key=f"approve_{record_id}").click().run()

    assert lead.success[0].value == f"Manual fix #{record_id} is recorded (approved); the DQ gate does not honour it."
    assert bypass.get(record_id).status == "recorded"
    history = page(LEAD)
    assert history.selectbox(key="bp_history").value == record_id
    assert [code.value.strip() for code in history.code] == [FIX_SQL.strip()]
    assert any("A record only: the DQ gate never honours it." in c.value for c in history.caption)
    assert not any("left" in s.value for s in history.subheader)  # never among the active bypasses
