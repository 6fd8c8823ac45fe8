"""Red team: DQ_NOW and friends moving the gate's clock into an expired bypass window or a stale run.

The gate uses the real clock unless the test-only DQ_TEST_ALLOW_CLOCK_OVERRIDE is true; an
ignored override is named in the output and in the gate's audit row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli import main
from ops.roles import user
from store import bypass
from tests.bypass_rows import add_run
from tests.security.gate_attacks import LEAD, ONCALL, Bench, audit, iso, request_form, suite_yaml


@pytest.fixture
def bench(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    bench = Bench(tmp_path, monkeypatch)
    bench.table("shipments")
    bench.load({"shipments.yaml": suite_yaml("silver.shipments", "shipments")})
    return bench


def _expired_bypass(bench: Bench, monkeypatch: pytest.MonkeyPatch, *, hours_ago: float = 3, hours: float = 1) -> tuple[int, datetime]:
    """A bypass approved `hours_ago` for `hours`: long expired by the real clock."""
    then = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago)
    monkeypatch.setenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", "true")  # the drill that set it up
    monkeypatch.setenv("DQ_NOW", iso(then))
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 1
    request_id = bypass.create_request(user(ONCALL), request_form("silver.shipments", hours=hours))
    bypass.approve(user(LEAD), request_id)
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE")
    return request_id, then


@pytest.mark.parametrize("inside", [0.1, 0.5, 0.99])
def test_dq_now_inside_an_expired_window_does_not_pass(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], inside: float
) -> None:
    request_id, then = _expired_bypass(bench, monkeypatch)
    monkeypatch.setenv("DQ_NOW", iso(then + timedelta(hours=inside)))
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.shipments", "--bypass", "--max-age", "600"])

    err = capsys.readouterr().err
    assert code == 1, err
    assert f"bypass #{request_id}: it expired" in err
    assert "DQ_NOW" in err and "ignored" in err
    assert any("DQ_NOW" in d for d in audit("gate.blocked")[-1]["deviations"])
    assert audit("gate.override_refused")[-1]["suite"] == "silver.shipments"


@pytest.mark.parametrize("flag", ["false", "0", "", "no", "maybe"])
def test_a_false_or_garbled_allow_flag_does_not_enable_the_override(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    request_id, then = _expired_bypass(bench, monkeypatch)
    monkeypatch.setenv("DQ_NOW", iso(then + timedelta(minutes=30)))
    monkeypatch.setenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", flag)
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.shipments", "--bypass", "--max-age", "600"])

    assert code in (1, 2)
    assert f"bypass #{request_id}" in capsys.readouterr().err or code == 2
    assert audit("gate.blocked" if code == 1 else "gate.refused")[-1]["suite"] == "silver.shipments"


def test_dq_now_in_the_past_does_not_make_a_stale_green_run_recent(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    long_ago = datetime.now(UTC) - timedelta(days=3)
    add_run("silver.shipments", [("shipments_id_not_null", "CRITICAL", "PASSED"),
                                 ("shipments_email_not_null", "HIGH", "PASSED"),
                                 ("shipments_amount_not_null", "LOW", "PASSED")], started_at=long_ago)
    monkeypatch.setenv("DQ_NOW", iso(long_ago + timedelta(minutes=5)))

    code = main(["dq_gate", "--suite", "silver.shipments", "--max-age", "60"])

    assert code == 1, capsys.readouterr().err
    row = audit("gate.blocked")[-1]
    assert row["evaluation"] == "fresh run" and any("DQ_NOW" in d for d in row["deviations"])


def test_a_bypass_approved_under_a_future_dq_now_is_not_active_early_or_long(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A console started with DQ_NOW in the future would otherwise stamp a window that starts later.
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 1
    monkeypatch.setenv("DQ_NOW", iso(datetime.now(UTC) + timedelta(days=30)))
    request_id = bypass.create_request(user(ONCALL), request_form("silver.shipments", hours=2))
    active = bypass.approve(user(LEAD), request_id)

    assert active.expires_at is not None and active.expires_at < datetime.now(UTC) + timedelta(hours=2, minutes=5)
    assert audit("bypass.activated")[-1]["expires_at"] == active.expires_at.isoformat()


def test_the_clock_override_honoured_in_tests_is_named_loudly(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", "true")
    monkeypatch.setenv("DQ_NOW", iso(datetime(2026, 3, 1, 8, 0, tzinfo=UTC)))

    code = main(["dq_gate", "--suite", "silver.shipments"])

    assert code == 1
    assert "clock override DQ_NOW=2026-03-01T08:00:00+00:00 in use (test-only DQ_TEST_ALLOW_CLOCK_OVERRIDE)" in capsys.readouterr().err
    assert any("in use" in d for d in audit("gate.blocked")[-1]["deviations"])


def test_a_green_run_stamped_in_the_future_does_not_stay_the_newest(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    bench.fix("shipments")
    monkeypatch.setenv("DQ_NOW", iso(datetime.now(UTC) + timedelta(days=30)))
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 0  # a green run stamped a month ahead
    monkeypatch.delenv("DQ_NOW")
    bench.table("shipments")
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 1
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.shipments", "--max-age", "60"])

    assert code == 1, capsys.readouterr().out
    assert audit("gate.blocked")[-1]["evaluation"] == "complete run"
