from datetime import timedelta

import pytest
import sqlalchemy as sa

from store import db, schema, violations
from store.errors import InvalidTransition, NotFound, StoreError
from tests import seed
from tests.seed import NOW


def _row(violation_id: int) -> dict:
    with db.read() as conn:
        return dict(conn.execute(sa.select(schema.violations).where(schema.violations.c.id == violation_id)).mappings().one())


def _audit(action: str) -> list[tuple[str, str, dict]]:
    a = schema.audit_log.c
    with db.read() as conn:
        rows = conn.execute(sa.select(a.actor, a.entity_id, a.details).where(a.action == action).order_by(a.id))
        return [tuple(r) for r in rows]


@pytest.fixture
def three(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setenv("DQ_NOW", NOW.isoformat())
    return [seed.violation(), seed.violation(), seed.violation(status="resolved")]


@pytest.fixture
def three_both(store_url: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setenv("DQ_NOW", NOW.isoformat())
    return [seed.violation(), seed.violation(), seed.violation(status="resolved")]


def test_acknowledge_many_with_a_note_skips_resolved(three_both: list[int]) -> None:
    three = three_both
    changed = violations.acknowledge(three, "oncall@company.com", "looking at it")
    assert changed == three[:2]
    row = _row(three[0])
    assert (row["status"], row["acknowledged"], row["acknowledged_by"], row["ack_note"]) == (
        "acknowledged", True, "oncall@company.com", "looking at it")
    assert row["acknowledged_at"] == NOW
    assert _row(three[2])["status"] == "resolved"
    assert _audit("violation.acknowledged") == [
        ("oncall@company.com", str(i), {"note": "looking at it"}) for i in three[:2]]
    assert violations.acknowledge(three, "other@x") == []  # a second click changes nothing


def test_acknowledge_unknown_id_changes_nothing(three: list[int]) -> None:
    with pytest.raises(NotFound, match="#99"):
        violations.acknowledge([three[0], 99], "a@x")
    assert _row(three[0])["status"] == "open"


def test_acknowledge_needs_a_user(three: list[int]) -> None:
    with pytest.raises(StoreError, match="records who"):
        violations.acknowledge(three, "  ")


def test_resolve_by_hand_with_a_reason(three_both: list[int]) -> None:
    three = three_both
    violations.resolve(three[0], "lead@x", "false_positive", "test data")
    row = _row(three[0])
    assert (row["status"], row["resolution"], row["resolved_by"], row["acknowledged_by"]) == (
        "resolved", "false_positive", "lead@x", "lead@x")
    assert _audit("violation.resolved")[0][2] == {"resolution": "false_positive", "note": "test data", "previous": "open"}
    with pytest.raises(InvalidTransition, match="already resolved"):
        violations.resolve(three[0], "lead@x", "expected")


@pytest.mark.parametrize(("reason", "note", "match"), [
    ("because", "", "unknown resolution 'because'"),
    ("other", " ", "needs a note"),
])
def test_resolve_rejects_bad_reasons(three: list[int], reason: str, note: str, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        violations.resolve(three[0], "lead@x", reason, note)


def test_snooze_until_a_future_time(three: list[int]) -> None:
    until = NOW + timedelta(hours=4)
    assert violations.snooze(three, "a@x", until, "maintenance") == three[:2]
    assert _row(three[1])["snoozed_until"] == until
    assert _row(three[2])["snoozed_until"] is None
    with pytest.raises(StoreError, match="in the future"):
        violations.snooze(three, "a@x", NOW - timedelta(minutes=1))
