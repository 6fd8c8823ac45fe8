from tests import seed
from tests.seed import ago

PAGE = "pages/runs.py"


def test_runs_filter_and_results(sqlite_store: str, open_page) -> None:
    seed.suite()
    seed.rule()
    failed = seed.checked(status="FAILED", at=ago(hours=2))
    seed.checked(status="PASSED", at=ago(hours=1))
    seed.checked(status="PASSED", at=ago(days=3))
    at = open_page(PAGE)
    assert at.dataframe[0].value["id"].tolist() == [failed + 1, failed]
    at.multiselect(key="f_status").set_value(["FAILED"]).run()
    assert at.dataframe[0].value["id"].tolist() == [failed]
    at.selectbox(key="run").set_value(failed).run()
    assert at.dataframe[1].value["status"].tolist() == ["FAILED"]
    assert "No run requests yet." in at.info[0].value
