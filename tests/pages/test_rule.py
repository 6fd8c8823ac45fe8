import json

import sqlalchemy as sa

from store import db, schema
from tests import seed
from tests.seed import ago

PAGE = "pages/rule.py"


def _history(tmp_path) -> None:
    seed.load_rules(tmp_path / "rules")  # the rule's definition as written, through the real loader
    for hours, status, failing in ((5, "PASSED", 0), (3, "FAILED", 312), (1, "FAILED", 40)):
        seed.checked(status=status, at=ago(hours=hours), check_type="not_null", failing_rows=failing,
                     observed_value=failing / 10_000, fail_level="more than 0 rows")
    seed.violation(detected_at=ago(hours=3), status="acknowledged", acknowledged_at=ago(hours=2),
                   acknowledged_by="oncall@company.com")


def test_the_rule_page_shows_definition_threshold_schedule_and_results(sqlite_store: str, tmp_path, open_page) -> None:
    _history(tmp_path)
    at = open_page(PAGE, name="orders_id_not_null")
    assert at.subheader[0].value == "orders_id_not_null · HIGH · silver.orders"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Severity": "HIGH", "Last verdict": "FAILED", "Lifecycle": "active", "Allowed": "0 rows"}
    assert "check: not_null" in at.code[0].value or "not_null" in at.code[0].value
    text = " ".join(m.value for m in at.markdown)
    assert "40 failing rows (0.4%); allowed: 0 rows" in text
    assert "next due" in text or "no schedule" in text
    results = at.dataframe[0].value
    assert results["status"].tolist() == ["FAILED", "FAILED", "PASSED"]  # newest first
    [chart] = [json.loads(c.proto.spec) for c in at.get("echarts_chart")]
    metric, opened, acked = chart["series"]
    assert [point["value"][1] for point in metric["data"]] == [0, 312, 40]  # failing rows, oldest first
    assert metric["markArea"]["data"] == [[{"yAxis": 0.0}, {"yAxis": 0.0}]]  # allowed: 0 rows
    assert (opened["name"], len(opened["data"]), acked["name"], acked["data"][0]["name"]) == (
        "violation opened", 1, "acknowledged", "oncall@company.com")


def test_run_now_on_the_rule_page(sqlite_store: str, tmp_path, open_page) -> None:
    _history(tmp_path)
    at = open_page(PAGE, name="orders_id_not_null")
    at.button(key="rule_run_now").click().run()
    with db.read() as conn:
        row = conn.execute(sa.select(schema.run_requests)).mappings().one()
    assert (row["suite"], row["rule_name"]) == ("silver.orders", "orders_id_not_null")
    assert "queued for rule orders_id_not_null" in at.success[0].value


def test_an_unknown_rule_says_where_to_look(sqlite_store: str, open_page) -> None:
    at = open_page(PAGE, name="nope")
    assert "rule 'nope' is not in the store" in at.warning[0].value and "Hint:" in at.warning[0].value
