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
        ["rule?name=orders_id_not_null", "active", 1], ["rule?name=orders_total_positive", "disabled", 0]]
    assert table["last_status"].fillna("never").tolist() == ["FAILED", "never"]
    assert "1 enabled" in at.caption[1].value
    linked = open_page(PAGE, rule="orders_total")
    assert linked.dataframe[0].value["name"].tolist() == ["rule?name=orders_total_positive"]  # links to the rule page


def test_empty_store_says_how_to_load_rules(sqlite_store: str, open_page) -> None:
    at = open_page(PAGE)
    assert "load_dq_rules" in at.info[0].value


def _status(name: str) -> tuple[str, str]:
    import sqlalchemy as sa

    from store import db, schema

    with db.read() as conn:
        row = conn.execute(sa.select(schema.rules.c.status, schema.rules.c.status_reason)
                           .where(schema.rules.c.name == name)).one()
    return tuple(row)


def test_a_lead_disables_a_rule_with_a_reason(sqlite_store: str, monkeypatch, open_page) -> None:
    monkeypatch.setenv("DQ_DEV_USER", "data-eng-lead@company.com")
    seed.rule()
    at = open_page(PAGE)
    at.selectbox(key="lc_state").set_value("disabled")
    at.text_input(key="lc_reason").input("noisy during migration")
    at.button(key="lc_apply").click().run()
    assert _status("orders_id_not_null") == ("disabled", "noisy during migration")
    assert not at.exception


def test_a_lead_must_give_a_reason(sqlite_store: str, monkeypatch, open_page) -> None:
    monkeypatch.setenv("DQ_DEV_USER", "data-eng-lead@company.com")
    seed.rule()
    at = open_page(PAGE)
    at.selectbox(key="lc_state").set_value("retired")
    at.button(key="lc_apply").click().run()
    assert "A reason is required" in at.error[0].value
    assert _status("orders_id_not_null")[0] == "active"


def test_on_call_cannot_change_rule_state(sqlite_store: str, open_page) -> None:
    seed.rule()
    at = open_page(PAGE)
    assert not [b for b in at.button if b.key == "lc_apply"]
    assert any("needs one of the roles" in c.value for c in at.caption)
