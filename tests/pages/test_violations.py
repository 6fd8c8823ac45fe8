import pytest
import sqlalchemy as sa

from store import db, schema
from tests import seed
from tests.seed import ago

PAGE = "pages/violations.py"


@pytest.fixture
def store(sqlite_store: str) -> dict[str, int]:
    seed.suite()
    seed.suite(name="gold.revenue", source="finance", layer="gold")
    seed.rule()
    seed.rule(name="revenue_positive", suite="gold.revenue", source="finance", severity="CRITICAL")
    seed.checked(status="FAILED", at=ago(hours=2))
    seed.checked(status="PASSED", at=ago(hours=1))
    return {
        "high": seed.violation(detected_at=ago(hours=1), observed_value=0.0003),  # 3 of 10,000 rows
        "critical": seed.violation(rule_name="revenue_positive", suite="gold.revenue", source="finance",
                                   severity="CRITICAL", detected_at=ago(hours=2), observed_value=0.0003),
        "old": seed.violation(status="resolved", detected_at=ago(days=9)),
    }


def _ids(at) -> list[int]:
    return sorted(at.dataframe[0].value["id"].tolist())


def _violation(violation_id: int) -> dict:
    with db.read() as conn:
        return dict(conn.execute(sa.select(schema.violations).where(schema.violations.c.id == violation_id)).mappings().one())


def test_lists_unresolved_violations_by_default(store, open_page) -> None:
    at = open_page(PAGE)
    assert _ids(at) == [store["high"], store["critical"]]
    assert "2 violation(s) match" in at.caption[1].value


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("f_severity", ["CRITICAL"], ["critical"]),
    ("f_source", ["warehouse"], ["high"]),
    ("f_suite", ["gold.revenue"], ["critical"]),
    ("f_rule", ["orders_id_not_null"], ["high"]),
    ("f_status", ["resolved"], ["old"]),
])
def test_filters(store, open_page, key: str, value: list[str], expected: list[str]) -> None:
    at = open_page(PAGE)
    at.multiselect(key=key).set_value(value).run()
    assert _ids(at) == sorted(store[name] for name in expected)


def test_time_and_acknowledged_filters(store, open_page) -> None:
    at = open_page(PAGE)
    at.multiselect(key="f_status").set_value(["open", "acknowledged", "resolved"]).run()
    at.selectbox(key="f_since").set_value("Last 7 days").run()
    assert _ids(at) == [store["high"], store["critical"]]
    at.selectbox(key="f_acked").set_value("Acknowledged").run()
    assert at.dataframe[0].value.empty


def _select(at, *ids: int):
    """Select table rows as a click would (AppTest cannot click a dataframe): the widget's state."""
    listed = at.dataframe[0].value
    rows = [int(i) for i in listed.index[listed["id"].isin(ids)]]
    generation = "violations_table_generation"
    key = f"table_{at.session_state[generation] if generation in at.session_state else 0}"  # noqa: SIM401 - no .get() here
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_triage_columns_come_first_and_say_observed_and_allowed_alike(store, open_page) -> None:
    at = open_page(PAGE)
    table = at.dataframe[0].value
    assert list(table.columns[:5]) == ["severity", "state", "rule", "table", "finding"]
    assert table["severity"].tolist() == ["CRITICAL", "HIGH"]  # the most severe open one first
    assert table["finding"].tolist()[0] == "3 failing rows (0.03%); allowed: 0 rows"


def test_acknowledge_selected_rows_with_a_note_records_the_user(store, open_page) -> None:
    at = _select(open_page(PAGE), store["high"], store["critical"])
    at.text_input(key="bulk_note").input("upstream reload, DATA-7")
    at.button(key="bulk_ack").click().run()
    for name in ("high", "critical"):
        row = _violation(store[name])
        assert (row["status"], row["acknowledged_by"], row["ack_note"]) == (
            "acknowledged", "dev@localhost", "upstream reload, DATA-7")
    assert not at.exception
    assert at.dataframe[0].value["state"].tolist() == ["acked by dev@localhost"] * 2  # fresh, not "open"
    assert at.success[0].value.startswith("Acknowledged #")


def test_acknowledging_again_says_who_already_did(store, open_page) -> None:
    at = _select(open_page(PAGE), store["high"])
    at.button(key="bulk_ack").click().run()
    at = _select(at, store["high"])
    at.button(key="bulk_ack").click().run()
    assert f"#{store['high']} was already acknowledged by dev@localhost" in at.warning[0].value


def test_one_selected_row_opens_its_detail_with_acknowledge(store, open_page) -> None:
    at = _select(open_page(PAGE), store["critical"])
    assert at.subheader[0].value == f"#{store['critical']} CRITICAL · revenue_positive · open"
    at.button(key="detail_ack").click().run()
    assert _violation(store["critical"])["status"] == "acknowledged"


def test_snooze_selected(store, open_page) -> None:
    at = _select(open_page(PAGE), store["high"])
    at.selectbox(key="bulk_period").set_value("8 hours")
    at.button(key="bulk_snooze").click().run()
    assert _violation(store["high"])["snoozed_until"] == ago(hours=-8)


def test_a_user_without_a_role_sees_why_the_buttons_are_off(store, open_page, monkeypatch) -> None:
    monkeypatch.setenv("DQ_DEV_USER", "visitor@company.com")
    at = _select(open_page(PAGE), store["high"])
    assert at.button(key="bulk_ack").disabled
    assert any("may not acknowledge" in c.value and "oncall@company.com" in c.value for c in at.caption)


def test_deep_link_to_a_violation_shows_its_detail(store, open_page) -> None:
    at = open_page(PAGE, violation=str(store["critical"]))
    assert at.subheader[0].value == f"#{store['critical']} CRITICAL · revenue_positive · open"
    assert [m.value for m in at.metric[:2]] == ["3 failing rows (0.03%)", "0 rows"]
    assert at.dataframe[0].value.to_dict("records") == [{"id": None, "amount": "1.5"}]  # the detail comes first
    assert at.dataframe[1].value["id"].tolist() == [store["critical"], store["high"]]  # the list below it


def test_deep_link_to_a_resolved_violation_outside_the_list(store, open_page) -> None:
    at = open_page(PAGE, violation=str(store["old"]))
    assert at.subheader[0].value.startswith(f"#{store['old']} HIGH")


def test_deep_link_by_rule_prefilters(store, open_page) -> None:
    at = open_page(PAGE, rule="revenue_positive")
    assert _ids(at) == [store["critical"]]


def test_run_now_queues_a_request_for_the_rule(sqlite_store: str, tmp_path, open_page) -> None:
    seed.load_rules(tmp_path / "rules")
    violation_id = seed.violation()
    at = open_page(PAGE, violation=str(violation_id))
    at.button(key="run_now").click().run()
    with db.read() as conn:
        row = conn.execute(sa.select(schema.run_requests)).mappings().one()
    assert (row["suite"], row["rule_name"], row["requested_by"], row["origin"], row["status"]) == (
        "silver.orders", "orders_id_not_null", "dev@localhost", "console", "pending")
    assert "Run request #1 queued" in at.success[0].value


def test_run_now_for_a_suite_no_longer_loaded_says_why(sqlite_store: str, open_page) -> None:
    gone = seed.violation(suite="silver.gone")
    at = open_page(PAGE, violation=str(gone))
    at.button(key="run_now").click().run()
    assert "not in the store" in at.error[0].value


def test_resolve_by_hand(store, open_page) -> None:
    at = open_page(PAGE, violation=str(store["high"]))
    at.selectbox(key="resolve_reason").set_value("fixed_upstream")
    at.text_input(key="resolve_note").input("reloaded")
    at.button(key="resolve_button").click().run()
    row = _violation(store["high"])
    assert (row["status"], row["resolution"], row["resolved_by"]) == ("resolved", "fixed_upstream", "dev@localhost")


def test_resolve_other_without_a_note_is_refused(store, open_page) -> None:
    at = open_page(PAGE, violation=str(store["high"]))
    at.selectbox(key="resolve_reason").set_value("other")
    at.button(key="resolve_button").click().run()
    assert "needs a note" in at.error[0].value
    assert _violation(store["high"])["status"] == "open"


def test_unknown_violation_link_warns(store, open_page) -> None:
    at = open_page(PAGE, violation="999")
    assert "#999 does not exist" in at.warning[0].value
