import sqlalchemy as sa

from store import db, schema
from tests import seed
from tests.seed import ago

PAGE = "pages/table.py"


def test_the_table_page_shows_rules_score_violations_and_gate(sqlite_store: str, tmp_path, open_page) -> None:
    seed.load_rules(tmp_path / "rules")
    names = [r for r in open_page("pages/rules.py").dataframe[0].value["name"].str.removeprefix("rule?name=")]
    seed.checked(names[0], status="FAILED", at=ago(hours=1), failing_rows=3, observed_value=0.0003,
                 fail_level="more than 0 rows")
    for other in names[1:]:
        seed.checked(other, status="PASSED", at=ago(hours=1))
    seed.violation(rule_name=names[0], observed_value=0.0003)
    at = open_page(PAGE, suite="silver.orders")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Unresolved violations"] == "1"
    assert metrics["DQ gate"] == "enforced"
    assert metrics["Health score"].endswith("%") and metrics["Health score"] != "100%"
    rules = at.dataframe[0].value
    assert rules["last_status"].tolist()[0] == "FAILED"  # failures first
    assert rules["finding"].tolist()[0] == "3 failing rows (0.03%); allowed: 0 rows"
    assert "layer **silver**" in at.caption[1].value


def test_a_pii_table_is_never_bypassable(sqlite_store: str, open_page) -> None:
    seed.suite(name="silver.customers", data_classes=["pii"])
    at = open_page(PAGE, suite="silver.customers")
    assert {m.label: m.value for m in at.metric}["DQ gate"] == "always on"
    assert "Holds pii: never bypassable" in at.info[0].value


def test_run_now_for_the_whole_suite(sqlite_store: str, tmp_path, open_page) -> None:
    seed.load_rules(tmp_path / "rules")
    at = open_page(PAGE, suite="silver.orders")
    at.button(key="table_run_now").click().run()
    with db.read() as conn:
        row = conn.execute(sa.select(schema.run_requests)).mappings().one()
    assert (row["suite"], row["rule_name"]) == ("silver.orders", None)
