from tests import seed
from tests.seed import ago

PAGE = "pages/rules.py"


def test_rules_list_with_status_and_deep_link(sqlite_store: str, open_page) -> None:
    seed.rule()
    seed.rule(name="orders_total_positive", enabled=False, status_reason="noisy")
    seed.checked(status="FAILED", at=ago(hours=1))
    seed.violation()
    at = open_page(PAGE)
    table = at.dataframe[0].value
    assert table[["name", "status", "open_violations"]].values.tolist() == [
        ["orders_id_not_null", "active", 1], ["orders_total_positive", "disabled", 0]]
    assert table["last_status"].fillna("never").tolist() == ["FAILED", "never"]
    assert "1 enabled" in at.caption[1].value
    linked = open_page(PAGE, rule="orders_total")
    assert linked.dataframe[0].value["name"].tolist() == ["orders_total_positive"]


def test_empty_store_says_how_to_load_rules(sqlite_store: str, open_page) -> None:
    at = open_page(PAGE)
    assert "load_dq_rules" in at.info[0].value
