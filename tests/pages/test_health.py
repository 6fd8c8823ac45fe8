import pytest

from tests import seed
from tests.seed import ago

PAGE = "pages/health.py"


@pytest.fixture
def store(sqlite_store: str) -> None:
    seed.rule()
    for status in ["PASSED"] * 9 + ["ERROR"]:
        seed.checked(status=status, at=ago(hours=3))
    seed.checked(status="PASSED", at=ago(days=3))  # only in the 7-day window
    acked = seed.violation(status="acknowledged", acknowledged_at=ago(hours=1))
    seed.alert(acked, sent_at=ago(hours=1, minutes=6))
    seed.heartbeat(started_at=ago(days=2), beat_at=ago(seconds=10))


def _metrics(at) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def test_kpis_with_targets_and_state(store, open_page) -> None:
    at = open_page(PAGE)
    found = _metrics(at)
    assert found["Check success rate"] == ("90.00%", "off target (target > 95%)")
    assert found["Alert response time"] == ("6.0 min", "on target (target < 15 min)")
    assert found["Scheduler availability"][0] == "99.99%"
    assert found["Data freshness"] == ("no data", "no data (target < 2 h)")
    assert len(found) == 8
    assert any("Scheduler host:1 (running)" in s.value for s in at.success)


def test_window_changes_the_figures(store, open_page) -> None:
    at = open_page(PAGE)
    at.segmented_control(key="window").set_value("Last 7 days").run()
    assert _metrics(at)["Check success rate"][0] == "90.91%"


def test_panels_are_drawn(store, open_page) -> None:
    at = open_page(PAGE)
    subheaders = [s.value for s in at.subheader]
    assert subheaders == ["Check success rate", "Violations by severity", "Top failing rules",
                          "Check duration", "Alert response times", "Queue length"]
    assert not at.exception


def test_a_stale_heartbeat_is_red(sqlite_store: str, open_page) -> None:
    seed.heartbeat(started_at=ago(days=1), beat_at=ago(minutes=10))
    at = open_page(PAGE)
    assert any("Scheduler host:1 (running)" in e.value for e in at.error)
    assert not any("Scheduler" in s.value for s in at.success)
