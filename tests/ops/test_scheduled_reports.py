"""The daily health check and weekly review delivered on their cron, once; SLA breaches announced and recovered."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from alerting.deliver import deliver_due
from ops import report_config, scheduled_reports
from ops.errors import ReportConfigError
from store import db
from store.schema import alerts, report_runs
from tests.alerting.conftest import (  # noqa: F401 (fixtures)
    HttpReceiver,
    SmtpReceiver,
    channels_env,
    receiver,
    smtp_receiver,
)
from tests.bypass_rows import add_run

ROOT = Path(__file__).resolve().parents[2]
MONDAY_0900 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
REPORTS = """\
timezone: UTC
reports:
  daily_health_check: {kind: daily, schedule: "0 9 * * *", to: [data-eng]}
  weekly_rule_review: {kind: weekly, schedule: "0 10 * * 1", to: [data-eng]}
sla:
  for_minutes: 15
  to: [data-eng]
  kpis: [critical_pass]
"""


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    (folder / "reports.yaml").write_text(REPORTS)
    monkeypatch.setenv("DQ_CONFIG_DIR", str(folder))
    return folder


def _rows(kind: str) -> list[sa.RowMapping]:
    with db.read() as conn:
        return list(conn.execute(sa.select(alerts).where(alerts.c.kind == kind).order_by(alerts.c.id)).mappings())


def test_the_shipped_config_is_the_runbooks_schedule() -> None:
    config = report_config.load(ROOT / "config" / "reports.yaml")
    assert [(r.name, r.kind, r.schedule) for r in config.reports] == [
        ("daily_health_check", "daily", "0 9 * * *"), ("weekly_rule_review", "weekly", "0 10 * * 1")]
    assert config.sla.kpis == report_config.SLA_KPIS


@pytest.mark.parametrize(("text", "fragment"), [
    ("reports:\n  daily: {kind: hourly, schedule: '0 9 * * *'}\n", "reports.yaml:2 key 'reports.daily.kind': unknown value 'hourly'. Hint: use any of daily, weekly"),
    ("reports:\n  daily:\n    kind: daily\n    schedule: 'at nine'\n", "reports.yaml:4 key 'reports.daily.schedule': 'at nine' is not a valid cron"),
    ("reports:\n  daily:\n    kind: daily\n    schedule: '0 9 * * *'\n    to: [nobody]\n", "reports.yaml:5 key 'reports.daily.to': unknown team(s) ['nobody']"),
    ("timezone: Mars/Base\n", "reports.yaml:1 key 'timezone': unknown time zone"),
    ("sla:\n  kpis: [uptime]\n", "reports.yaml:2 key 'sla.kpis': unknown value 'uptime'"),
    ("sla:\n  for_minutes: soon\n", "reports.yaml:2 key 'sla.for_minutes': must be a number from 0 to 10000"),
    ("reprots: {}\n", "reports.yaml:1 key 'reprots': unknown key"),
    ("reports: [\n", "not valid YAML"),
])
def test_a_broken_reports_file_is_one_clear_error(tmp_path: Path, text: str, fragment: str) -> None:
    from alerting.policy import current_policy

    path = tmp_path / "reports.yaml"
    path.write_text(text)
    with pytest.raises(ReportConfigError) as caught:
        report_config.load(path, teams=current_policy(ROOT / "config" / "alerting.yaml").teams)
    assert fragment in str(caught.value)
    assert "Hint:" in str(caught.value)


@pytest.mark.parametrize(("timezone", "now", "tick"), [
    ("UTC", datetime(2026, 12, 1, 9, 0, tzinfo=UTC), datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    ("UTC", datetime(2026, 12, 1, 8, 59, tzinfo=UTC), datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2026, 12, 1, 8, 30, tzinfo=UTC), datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),  # CET
    ("Europe/Berlin", datetime(2026, 7, 1, 7, 30, tzinfo=UTC), datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),  # CEST
])
def test_the_9am_tick_is_read_in_the_configured_zone(timezone: str, now: datetime, tick: datetime) -> None:
    assert scheduled_reports.latest_tick("0 9 * * *", timezone, now) == tick


def test_reports_are_delivered_once_to_slack_and_email(
    store_url: str, config_dir: Path, channels_env: HttpReceiver, smtp_receiver: SmtpReceiver,  # noqa: F811
) -> None:
    add_run("silver.orders", [("orders_id_unique", "CRITICAL", "FAILED"), ("orders_amount", "HIGH", "PASSED")],
            started_at=MONDAY_0900 - timedelta(hours=1))
    now = MONDAY_0900 + timedelta(hours=1, minutes=0, seconds=20)  # Monday 10:00:20: both are due

    first = scheduled_reports.deliver_scheduled_reports(now)
    again = scheduled_reports.deliver_scheduled_reports(now + timedelta(minutes=1))
    deliver_due(now + timedelta(minutes=1))

    assert len(first) == 2 and again == []
    with db.read() as conn:
        ticks = sorted((r.report, r.due_at) for r in conn.execute(sa.select(report_runs)))
    assert ticks == [("daily_health_check", MONDAY_0900), ("weekly_rule_review", MONDAY_0900 + timedelta(hours=1))]
    assert {(r["channel"], r["status"]) for r in _rows("report")} == {("slack", "sent"), ("email", "sent")}
    slack = [b for b in channels_env.bodies("/slack/T000/B000/secret-token")]
    assert sorted(b["text"] for b in slack) == ["DQ: Daily DQ health check, 2026-11-30 09:00 UTC",
                                                "DQ: Weekly DQ rule review, 2026-11-30 10:00 UTC"]
    daily = next(b for b in slack if "Daily" in b["text"])
    fields = [f["text"] for block in daily["blocks"] if "fields" in block for f in block["fields"]]
    assert "*Critical rule pass rate*\n0.00% (target 100%) OFF TARGET" in fields
    assert any("https://dq.company.com/health" in str(block) for block in daily["blocks"])
    html = {m["Subject"]: next(p.get_payload(decode=True).decode() for p in m.walk() if p.get_content_type() == "text/html")
            for m in smtp_receiver.messages}
    daily_html = html["DQ: Daily DQ health check, 2026-11-30 09:00 UTC"]
    assert "<td>Critical rule pass rate</td><td>0.00%</td><td>100%</td><td>OFF TARGET</td>" in daily_html
    assert '<a href="https://dq.company.com/health">' in daily_html
    assert "<h3>Failure 7d</h3>" in html["DQ: Weekly DQ rule review, 2026-11-30 10:00 UTC"]


def test_a_tick_missed_by_a_long_outage_is_skipped(store_url: str, config_dir: Path) -> None:
    assert scheduled_reports.deliver_scheduled_reports(MONDAY_0900 + timedelta(hours=3, minutes=1)) == []


def test_two_schedulers_racing_for_one_tick_send_it_once(store_url: str, config_dir: Path) -> None:
    now = MONDAY_0900 + timedelta(seconds=30)
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def replica() -> None:
        barrier.wait()
        results.append(scheduled_reports.deliver_scheduled_reports(now))

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 1]
    assert len(_rows("report")) == 1  # nothing configured: the console's copy (channel store)
    assert _rows("report")[0]["channel"] == "store"


def test_an_sla_breach_is_announced_after_its_grace_and_recovers(store_url: str, config_dir: Path) -> None:
    t0 = MONDAY_0900
    add_run("silver.orders", [("orders_id_unique", "CRITICAL", "FAILED")], started_at=t0 - timedelta(minutes=5))

    assert scheduled_reports.announce_sla_breaches(t0) == []  # off target, but only just
    assert scheduled_reports.announce_sla_breaches(t0 + timedelta(minutes=14)) == []
    assert scheduled_reports.announce_sla_breaches(t0 + timedelta(minutes=15)) == ["sla_breach:critical_pass"]
    assert scheduled_reports.announce_sla_breaches(t0 + timedelta(minutes=30)) == []  # deduplicated
    [breach] = _rows("sla_breach")
    assert breach["payload"]["text"].startswith(
        "SLA breached: Critical rule pass rate is 0.00% against the runbook target 100%, off target for 15 min")
    assert (breach["severity"], breach["channel"]) == ("HIGH", "store")  # shown on the Alerts page

    add_run("silver.orders", [("orders_id_unique", "CRITICAL", "PASSED")], started_at=t0 + timedelta(hours=24, minutes=30))
    assert scheduled_reports.announce_sla_breaches(t0 + timedelta(hours=25)) == ["sla_recovered:critical_pass"]
    assert scheduled_reports.announce_sla_breaches(t0 + timedelta(hours=25, minutes=1)) == []
    [recovered] = _rows("sla_recovered")
    assert "SLA recovered: Critical rule pass rate is 100.00%" in recovered["payload"]["text"]


def test_a_breach_that_heals_within_its_grace_sends_nothing(store_url: str, config_dir: Path) -> None:
    t0 = MONDAY_0900
    add_run("silver.orders", [("orders_id_unique", "CRITICAL", "FAILED")], started_at=t0 - timedelta(minutes=5))
    assert scheduled_reports.announce_sla_breaches(t0) == []
    add_run("silver.orders", [("orders_id_unique", "CRITICAL", "PASSED")] * 1, started_at=t0 + timedelta(minutes=5))
    # One failure and one pass is still 50%: only a window without the failure is back on target.
    assert scheduled_reports.announce_sla_breaches(t0 + timedelta(hours=24, minutes=1)) == []
    assert _rows("sla_breach") == [] and _rows("sla_recovered") == []
