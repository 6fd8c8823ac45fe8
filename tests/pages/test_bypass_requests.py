"""The Bypass requests page under AppTest against a real SQLite store, one user per session."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from ops.roles import user
from store import bypass, db
from store.schema import alerts
from tests.bypass_rows import add_blocked_suite, add_run, add_suite, checklist

ONCALL, LEAD, LEAD2, MANAGER = "oncall@company.com", "data-eng-lead@company.com", "lead2@company.com", "manager@company.com"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SUBMIT = "FormSubmitter:bypass_request-Submit bypass request"


@pytest.fixture(autouse=True)
def store(sqlite_store: str, open_page, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_NOW", T0.isoformat())  # after open_page, which sets its own
    add_blocked_suite("silver.orders", "silver")  # run #1: a bypass is allowed only while blocked
    add_blocked_suite("gold.revenue", "gold")  # run #2
    add_suite("silver.customers", "silver", ["pii"])
    add_suite("gold.ledger", "gold", ["financial"])
    add_suite("silver.kyc", "silver", ["compliance"])


@pytest.fixture
def page(open_page, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], AppTest]:
    """The page as a given user sees it, reached through app.py like every console page."""

    def as_user(user: str) -> AppTest:
        monkeypatch.setenv("DQ_DEV_USER", user)
        return open_page("pages/bypass_requests.py")

    return as_user


def fill(app: AppTest, suite: str, hours: float = 6, **blank: bool) -> AppTest:
    app.selectbox(key="bp_suite").select(suite).run()
    values = {
        "Incident ticket id *": "INC-7", "Incident ticket link *": "https://jira.example.com/browse/INC-7",
        "Business impact *": "Orders dashboard blocked", "Impact assessment *": "gold.revenue slightly off",
        "Rollback plan *": "restore latest/ from backup/", "Fix timeline *": "next release",
        "Alternative remediation plan *": "backfill from source",
    }
    for widget in [*app.text_input, *app.text_area]:
        if widget.label in values:
            widget.input("" if blank.get(widget.label) else values[widget.label])
    app.number_input[0].set_value(hours)
    return app.button(key=SUBMIT).click().run()


def test_never_allowed_tables_are_not_offered(page, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page(ONCALL)

    assert app.selectbox(key="bp_suite").options == [
        "gold.revenue (suite gold.revenue, gold)", "silver.orders (suite silver.orders, silver)",
    ]


def test_failure_details_are_filled_from_the_latest_failing_run(page, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")])
    app = page(ONCALL)

    app.selectbox(key="bp_suite").select("silver.orders").run()

    details = app.text_area(key="bp_details_silver.orders").value
    assert details.startswith(f"Run #{run_id} of silver.orders (FAILED)")
    assert "orders_id_not_null [HIGH] FAILED" in details


def test_a_complete_request_is_filed_for_approval(page, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")])

    app = fill(page(ONCALL), "silver.orders")

    assert [s.value for s in app.success] == [
        "Bypass request #1 filed; it needs data_eng_lead. Ask data-eng-lead@company.com, lead2@company.com "
        "(data_eng_lead) or admin@company.com (admin)."]
    assert app.session_state["bp_tab"] == "Request"  # still on its tab after the rerun
    stored = bypass.get(1)
    assert (stored.requested_by, stored.status, stored.incident_id, stored.run_id) == (ONCALL, "pending", "INC-7", run_id)


def test_a_missing_checklist_item_is_refused(page, monkeypatch: pytest.MonkeyPatch) -> None:
    app = fill(page(ONCALL), "silver.orders", **{"Rollback plan *": True})

    assert "lacks Rollback plan" in app.error[0].value
    assert bypass.list_requests() == []


def test_a_duration_over_the_matrix_is_refused_with_the_reason(page, monkeypatch: pytest.MonkeyPatch) -> None:
    app = fill(page(ONCALL), "gold.revenue", hours=13)

    assert "a gold bypass may last at most 12 h (approval matrix); 13 h was asked" in app.error[0].value


def test_self_approval_is_off_and_names_who_can(page, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = bypass.create_request(user(LEAD), checklist("silver.orders"))
    app = page(LEAD)

    assert app.button(key=f"approve_{request_id}").disabled
    reason = next(c.value for c in app.caption if "four eyes" in c.value)
    assert "cannot approve it (four eyes). Hint: ask lead2@company.com (data_eng_lead) or admin@company.com" in reason
    assert bypass.get(request_id).status == "pending"


def test_approve_is_off_for_someone_who_cannot_approve(page, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = bypass.create_request(user(ONCALL), checklist("gold.revenue", hours=12))
    app = page(ONCALL)
    assert app.button(key=f"approve_{request_id}").disabled
    assert app.button(key=f"reject_{request_id}").disabled
    assert any("may not bypass approve" in c.value or "four eyes" in c.value for c in app.caption)
    other = page("oncall2@company.com")  # no role at all
    assert other.button(key=f"approve_{request_id}").disabled


def test_never_bypassable_tables_are_listed_with_their_reason(page, monkeypatch: pytest.MonkeyPatch) -> None:
    app = page(ONCALL)
    lines = [m.value for m in app.markdown if "never bypassable" in m.value]
    assert lines == ["- **gold.ledger** (suite gold.ledger): holds financial: never bypassable",
                     "- **silver.customers** (suite silver.customers): holds pii: never bypassable",
                     "- **silver.kyc** (suite silver.kyc): holds compliance: never bypassable"]


def test_gold_needs_a_lead_then_a_manager(page, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = bypass.create_request(user(ONCALL), checklist("gold.revenue", hours=12))

    lead = page(LEAD)
    assert "Needs:** data_eng_lead + manager" in "".join(m.value for m in lead.markdown)
    lead.button(key=f"approve_{request_id}").click().run()
    manager = page(MANAGER)
    manager.button(key=f"approve_{request_id}").click().run()

    assert lead.success[0].value == f"Approval recorded; bypass #{request_id} needs another approver."
    assert manager.success[0].value == f"Bypass #{request_id} is ACTIVE until 2026-03-01 20:00 UTC."
    assert f"#{request_id} gold.revenue: 12 h 00 min left" in [s.value for s in manager.subheader]


def test_a_rejection_needs_a_reason(page, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders"))
    app = page(LEAD)

    app.button(key=f"reject_{request_id}").click().run()
    assert "needs a reason" in app.error[0].value
    app.text_input(key=f"reject_reason_{request_id}").input("use the backfill instead")
    app.button(key=f"reject_{request_id}").click().run()

    assert bypass.get(request_id).status == "rejected"
    assert app.success[0].value == f"Bypass #{request_id} rejected."


def _active(page, monkeypatch: pytest.MonkeyPatch, hours: float = 6) -> tuple[int, AppTest]:
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders", hours=hours))
    bypass.approve(user(LEAD), request_id)
    monkeypatch.setenv("DQ_NOW", (T0 + timedelta(hours=1, minutes=15)).isoformat())
    return request_id, page(ONCALL)


def test_active_bypass_shows_time_left_and_silenced_alerts(page, monkeypatch: pytest.MonkeyPatch) -> None:
    with db.write() as conn:
        conn.execute(alerts.insert().values(
            suite="silver.orders", rule_name="orders_id_not_null", severity="HIGH", kind="trigger",
            channel="slack", payload={}, status="suppressed", suppressed_reason="bypass #1", attempts=0,
            created_at=T0 + timedelta(minutes=30),
        ))
    request_id, app = _active(page, monkeypatch)

    assert f"#{request_id} silver.orders: 4 h 45 min left" in [s.value for s in app.subheader]
    assert "**Alerts silenced during this bypass (1):**" in [m.value for m in app.markdown]


def test_rollback_asks_for_confirmation_then_disables_and_notifies(page, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id, app = _active(page, monkeypatch)

    app.button(key=f"rollback_{request_id}").click().run()
    assert bypass.get(request_id).status == "active"  # only the dialog opened
    app.text_area(key=f"rollback_reason_{request_id}").input("downstream jobs fail")
    app.button(key=f"FormSubmitter:rollback_form_{request_id}-Roll back now").click().run()

    assert bypass.get(request_id).status == "rolled_back"
    assert "rolled back: the DQ gate is enforced again" in app.warning[0].value
    with db.read() as conn:
        assert conn.execute(sa.select(alerts.c.kind, alerts.c.channel)).all() == [("bypass", "store")]


def test_restore_ends_the_bypass_and_reports_the_rerun(page, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id, app = _active(page, monkeypatch)

    app.button(key=f"restore_{request_id}").click().run()
    app.text_area(key=f"restore_note_{request_id}").input("fix deployed, INC-7 closed")
    app.button(key=f"FormSubmitter:restore_form_{request_id}-Restore DQ gate now").click().run()

    restored = bypass.get(request_id)
    assert (restored.status, restored.close_note) == ("restored", "fix deployed, INC-7 closed")
    shown = (app.success or app.warning)[0].value
    assert shown.startswith("DQ gate restored")
    assert [e.action for e in bypass.history(request_id)[1]][-1] == "bypass.verified"


def test_history_can_be_exported(page, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id, app = _active(page, monkeypatch)

    labels = [b.proto.label for b in app.get("download_button")]

    assert labels == ["Export history (Markdown)", "Export history (JSON)"]
    assert app.selectbox(key="bp_history").value == request_id
