"""Metric history in the store: each reason a point is not trained on, the audited incident mark, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from store import db, metrics
from store.errors import InvalidTransition, NotFound, StoreError
from store.schema import audit_log, bypass_requests, violations

RULE_ID, METRIC, SUITE = 7, "rows_per_bucket", "silver.events"
DAY0 = datetime(2026, 2, 1, tzinfo=UTC)


def _day(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


@pytest.fixture
def points(store_url: str) -> dict[int, int]:
    """Twenty daily points, each recorded by a run at the end of its day; returns point ids by day."""
    with db.write() as conn:
        for n in range(20):
            metrics.record_point(conn, RULE_ID, METRIC, _day(n), 1000.0 + n, recorded_at=_day(n + 1), run_id=n + 1)
        rows = conn.execute(sa.text("SELECT id, at FROM metric_points ORDER BY at")).all()
    return {n: int(row[0]) for n, row in enumerate(rows)}


def _reasons(**kwargs) -> dict[int, str | None]:
    with db.read() as conn:
        frame = metrics.history(conn, RULE_ID, METRIC, SUITE, **kwargs)
    return {(row["at"] - DAY0).days: row["reason"] for row in frame.iter_rows(named=True) if row["excluded"]}


def _violation(detected: datetime, resolved: datetime | None, *, resolution: str | None = "auto",
               verdict: str = "FAILED", rule_id: int = RULE_ID) -> int:
    with db.write() as conn:
        return int(conn.execute(violations.insert().values(
            rule_name="events_daily_volume", rule_id=rule_id, suite=SUITE, source="warehouse", check_type="anomaly",
            severity="HIGH", status="resolved" if resolved else "open", verdict=verdict, detected_at=detected,
            last_seen_at=resolved or detected, occurrences=1, acknowledged=False, resolved_at=resolved,
            resolution=resolution if resolved else None,
        ).returning(violations.c.id)).scalar_one())


def _bypass(status: str, activated: datetime, expires: datetime, closed: datetime | None = None,
            suite: str = SUITE) -> int:
    with db.write() as conn:
        return int(conn.execute(bypass_requests.insert().values(
            suite=suite, table_name="events", layer="silver", data_classes=[], requested_by="a@x.io",
            requested_at=activated, incident_id="INC-1", incident_url="https://x/INC-1", failure_details="load",
            violation_ids=[], business_impact="x", duration_hours=24, impact_assessment="x", rollback_plan="x",
            fix_timeline="x", alternative_plan="x", status=status, activated_at=activated, expires_at=expires,
            closed_at=closed,
        ).returning(bypass_requests.c.id)).scalar_one())


def test_a_clean_history_trains_on_every_point(points) -> None:
    assert _reasons() == {}


def test_points_recorded_while_a_violation_was_open_are_excluded(points) -> None:
    resolved = _violation(_day(5), _day(7))  # points of days 4 and 5 were recorded while it was open
    still_open = _violation(_day(15), None)
    _violation(_day(10), _day(12), resolution="false_positive")  # no incident: trained on
    _violation(_day(1), _day(3), verdict="ERROR")  # could not check: says nothing about the data
    _violation(_day(17), _day(19), rule_id=RULE_ID + 1)  # another rule's

    assert _reasons() == {4: f"violation #{resolved}", 5: f"violation #{resolved}",
                          **{n: f"violation #{still_open}" for n in range(14, 20)}}


def test_points_inside_a_bypass_window_are_excluded(points) -> None:
    expired = _bypass("expired", _day(3), _day(5))
    restored = _bypass("restored", _day(10), _day(14), closed=_day(11) + timedelta(hours=1))
    _bypass("rejected", _day(16), _day(18))
    _bypass("expired", _day(6), _day(9), suite="gold.other")

    assert _reasons() == {3: f"bypass #{expired}", 4: f"bypass #{expired}", 10: f"bypass #{restored}",
                          11: f"bypass #{restored}"}


def test_the_detection_period_is_not_trained_on(points) -> None:
    assert _reasons(judged_at=_day(19), detection=timedelta(days=2)) == {17: "detection period", 18: "detection period",
                                                                      19: "detection period"}
    assert _reasons(judged_at=_day(19)) == {}


def test_a_point_marked_as_an_incident_is_excluded_and_audited(points) -> None:
    metrics.mark_excluded(points[8], "oncall@company.com", "INC-42 double load")

    assert _reasons() == {8: "incident: INC-42 double load"}
    with db.read() as conn:
        audit = conn.execute(sa.select(audit_log).where(audit_log.c.action == "metric_point.excluded")).mappings().one()
    assert (audit["actor"], audit["entity_id"], audit["details"]["note"]) == (
        "oncall@company.com", str(points[8]), "INC-42 double load")
    with pytest.raises(InvalidTransition, match="already excluded"):
        metrics.mark_excluded(points[8], "oncall@company.com", "again")


@pytest.mark.parametrize(("actor", "note", "error", "match"), [
    ("", "why", StoreError, "no user given"),
    ("oncall@company.com", "  ", StoreError, "needs a note"),
])
def test_marking_needs_a_user_and_a_note(points, actor: str, note: str, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        metrics.mark_excluded(points[1], actor, note)


def test_marking_an_unknown_point_says_so(points) -> None:
    with pytest.raises(NotFound, match="metric point #999999 does not exist"):
        metrics.mark_excluded(999_999, "oncall@company.com", "x")


def test_recording_the_same_instant_twice_keeps_the_first(points) -> None:
    with db.write() as conn:
        assert metrics.record_point(conn, RULE_ID, METRIC, _day(3), 5.0, recorded_at=_day(30)) is False
        assert metrics.record_backfill(conn, RULE_ID, METRIC, [(_day(3), 5.0), (_day(-1), 990.0)], _day(30)) == 1
        assert metrics.point_at(conn, RULE_ID, METRIC, _day(3)) == 1003.0


def test_a_backfilled_point_is_never_covered_by_a_violation(points) -> None:
    with db.write() as conn:
        metrics.record_backfill(conn, RULE_ID, METRIC, [(_day(-3), 990.0)], recorded_at=_day(16))
    still_open = _violation(_day(15), None)

    assert -3 not in _reasons() and _reasons()[15] == f"violation #{still_open}"
