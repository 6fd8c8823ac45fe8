from datetime import timedelta

import pytest

from store import queries
from store.errors import NotFound
from store.queries import RunFilter, ViolationFilter
from tests import seed
from tests.seed import NOW, ago


def _history() -> None:
    seed.suite()
    seed.suite(name="gold.revenue", source="finance", layer="gold")
    seed.rule()
    seed.rule(name="revenue_positive", suite="gold.revenue", source="finance", severity="CRITICAL")
    seed.violation(detected_at=ago(hours=1))
    seed.violation(rule_name="revenue_positive", suite="gold.revenue", source="finance",
                   severity="CRITICAL", detected_at=ago(hours=2))
    seed.violation(status="acknowledged", detected_at=ago(days=3), acknowledged_by="a@x")
    seed.violation(status="resolved", detected_at=ago(days=10))


@pytest.fixture
def history(sqlite_store: str) -> str:
    """Filters are plain SQLAlchemy; SQLite is enough (the PostgreSQL run is below)."""
    _history()
    return sqlite_store


@pytest.fixture
def history_both(store_url: str) -> str:
    _history()
    return store_url


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (ViolationFilter(), [1, 2, 3]),
        (ViolationFilter(statuses=()), [1, 2, 3, 4]),
        (ViolationFilter(severities=("CRITICAL",)), [2]),
        (ViolationFilter(sources=("finance",)), [2]),
        (ViolationFilter(suites=("silver.orders",)), [1, 3]),
        (ViolationFilter(rules=("orders_id_not_null",), acknowledged=False), [1]),
        (ViolationFilter(acknowledged=True), [3]),
        (ViolationFilter(detected_since=ago(days=1)), [1, 2]),
        (ViolationFilter(statuses=(), detected_until=ago(days=5)), [4]),
        (ViolationFilter(limit=1), [2]),  # open first, then the worst severity: the CRITICAL one
    ],
)
def test_violation_filters(history: str, shape: ViolationFilter, expected: list[int]) -> None:
    df = queries.violations_list(shape)
    assert sorted(df["id"].to_list()) == expected
    if shape.limit > 10:
        assert queries.violations_count(shape) == len(expected)


def test_violation_detail_and_sample(history_both: str) -> None:
    one = queries.violation(2)
    assert one.row(0, named=True)["rule_name"] == "revenue_positive"
    assert one["detected_at"].dtype.time_zone == "UTC"
    sample = queries.failing_rows(2)
    assert sample.to_dicts() == [{"id": None, "amount": "1.5"}]
    with pytest.raises(NotFound, match="#99 does not exist"):
        queries.violation(99)


def test_failing_rows_prefers_the_newest_capture(history: str) -> None:
    from store import db, schema

    with db.write() as conn:
        for minutes, value in ((10, "old"), (1, "new")):
            conn.execute(schema.violation_samples.insert().values(
                violation_id=1, run_id=1, captured_at=ago(minutes=minutes), rows=[{"v": value}]))
    assert queries.failing_rows(1).to_dicts() == [{"v": "new"}]


def test_filter_options_come_from_rules(history: str) -> None:
    options = queries.filter_options()
    assert options.sources == ("finance", "warehouse")
    assert options.rules == ("orders_id_not_null", "revenue_positive")


def test_rule_history_and_overview(history_both: str) -> None:
    seed.checked(status="FAILED", at=ago(hours=5))
    seed.checked(status="PASSED", at=ago(hours=4))
    seed.checked(status="PASSED", at=ago(days=40))
    hist = queries.rule_history("orders_id_not_null", days=30, now=NOW)
    assert hist["status"].to_list() == ["FAILED", "PASSED"]
    overview = queries.rules_overview(now=NOW)
    row = overview.filter(overview["name"] == "orders_id_not_null").row(0, named=True)
    assert (row["last_status"], row["open_violations"]) == ("PASSED", 2)
    other = overview.filter(overview["name"] == "revenue_positive").row(0, named=True)
    assert (other["last_status"], other["open_violations"]) == (None, 1)


def test_runs_list_and_results(history_both: str) -> None:
    first = seed.checked(status="FAILED", at=ago(hours=5))
    seed.checked(status="PASSED", at=ago(hours=1), suite="gold.revenue", rule_name="revenue_positive")
    assert queries.runs_list(RunFilter())["id"].to_list() == [first + 1, first]
    assert queries.runs_list(RunFilter(statuses=("FAILED",)))["id"].to_list() == [first]
    assert queries.runs_list(RunFilter(started_since=ago(hours=2)))["suite"].to_list() == ["gold.revenue"]
    assert queries.run_results(first)["status"].to_list() == ["FAILED"]


def test_heartbeats_and_queue(history: str) -> None:
    seed.heartbeat(beat_at=ago(seconds=30))
    beats = queries.heartbeats(now=NOW)
    assert beats["age_seconds"].to_list() == [30.0]
    assert queries.queue_length() == 0


def test_store_status_reports_unmigrated_and_unreachable(tmp_path) -> None:
    from store import db

    status = queries.store_status(db.get_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert not status.ok and "python manage.py migrate" in status.message
    dead = queries.store_status(db.get_engine("postgresql+psycopg://nobody:secret@127.0.0.1:1/none"))
    assert not dead.ok and "cannot be reached" in dead.message and "secret" not in dead.message
    assert dead.message.endswith("is running.")


def test_empty_store_gives_empty_frames(sqlite_store: str) -> None:
    assert queries.violations_list(ViolationFilter()).is_empty()
    assert queries.rules_overview().is_empty()
    assert queries.runs_list(RunFilter(started_since=NOW - timedelta(days=1))).is_empty()
    assert queries.store_status().ok
