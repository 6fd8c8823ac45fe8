import sqlalchemy as sa

from store import db, schema
from tests import seed
from tests.seed import ago

PAGE = "pages/runs.py"


def _runs(at) -> list[str]:
    return [link.split("=")[1] for link in at.dataframe[0].value["run"].tolist()]


def test_failures_first_filter_and_a_runs_results(sqlite_store: str, open_page) -> None:
    seed.suite()
    seed.rule()
    failed = seed.checked(status="FAILED", at=ago(hours=2), failing_rows=312, observed_value=0.0003,
                          fail_level="more than 0 rows")
    seed.checked(status="PASSED", at=ago(hours=1))
    seed.checked(status="PASSED", at=ago(days=3))
    at = open_page(PAGE)
    assert _runs(at) == [str(failed), str(failed + 1)]  # the failed run first, though older
    at.multiselect(key="f_status").set_value(["FAILED"]).run()
    assert _runs(at) == [str(failed)]
    assert "No run requests yet." in at.info[0].value
    at = open_page(PAGE, run=str(failed))
    results = at.dataframe[1].value
    assert results["status"].tolist() == ["FAILED"]
    assert results["finding"].tolist() == ["312 failing rows (0.03%); allowed: 0 rows"]
    assert at.subheader[0].value == f"Run #{failed} · silver.orders · FAILED"


def test_run_now_for_any_table_links_to_its_request(sqlite_store: str, tmp_path, open_page) -> None:
    seed.load_rules(tmp_path / "rules")
    at = open_page(PAGE)
    at.selectbox(key="run_suite").set_value("silver.orders").run()
    at.button(key="runs_run_now").click().run()
    with db.read() as conn:
        row = conn.execute(sa.select(schema.run_requests)).mappings().one()
    assert (row["suite"], row["rule_name"], row["origin"]) == ("silver.orders", None, "console")
    assert f"Run request #{row['id']} queued for every rule of silver.orders" in at.success[0].value
    follow = [e for e in at.main if type(e).__name__ == "PageLink"]
    assert follow and follow[0].proto.label == f"Follow run request #{row['id']} on the Runs page"
    at = open_page(PAGE, request=str(row["id"]))
    assert f"Run request #{row['id']} for suite silver.orders by dev@localhost: **pending**" in at.info[0].value
