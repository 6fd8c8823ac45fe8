import json

from tests import seed
from tests.seed import ago

PAGE = "pages/rule_review.py"


def test_review_sections_and_downloads(sqlite_store: str, open_page) -> None:
    seed.suite()
    seed.suite(name="bronze.events", layer="bronze")
    seed.rule()
    seed.checked(status="FAILED", at=ago(hours=2))
    seed.checked(status="PASSED", at=ago(hours=1))
    at = open_page(PAGE)
    headers = [s.value for s in at.subheader]
    assert headers[0] == "Failure rate per rule, last 7 days" and len(headers) == 9
    failing = at.dataframe[0].value
    assert failing[["rule_name", "failed", "results", "failure_rate"]].values.tolist() == [
        ["rule?name=orders_id_not_null", 1, 2, 50.0]]  # linked to the rule page
    no_rules = [df.value for df in at.dataframe if "table_name" in df.value.columns][0]
    assert no_rules["suite"].tolist() == ["table?suite=bronze.events"]
    assert not at.exception


def test_report_json_is_the_same_review(sqlite_store: str) -> None:
    from store import review

    seed.rule()
    seed.checked(status="FAILED", at=ago(hours=1))
    body = json.loads(review.weekly_review(now=seed.NOW).to_json())
    assert body["failure_7d"][0]["rule_name"] == "orders_id_not_null"
