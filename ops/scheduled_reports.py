"""The runbook's routines on their schedule: the daily health check and weekly review delivered, SLA breaches announced.

Both are scheduler housekeeping jobs. A report tick (config/reports.yaml) is claimed once across
replicas (store/reports.py) in the transaction that queues one outbox row per recipient channel,
so delivery, retries and the console's Alerts page are the alerts'. The numbers are
`python manage.py report`'s (ops/reports.py). An SLA notice goes out when a KPI of the Health
page stays off its runbook target for `for_minutes`, and a recovery notice when it is back.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

import settings
from alerting.policy import Policy, current_policy
from alerting.targets import STORE, targets_for
from ops import housekeeping, report_config, reports
from ops.report_config import ReportsConfig, ReportSpec
from store import alerts as outbox
from store import db, kpis
from store import reports as store_reports
from store import review as store_review
from store.alerts import NewAlert
from store.kpis import Kpi, Window

GRACE = timedelta(hours=2)  # a tick missed by a longer outage is skipped: a 9 AM report at 3 PM is noise
REPORT_CHANNELS = ("slack", "email")
NOTICE_CHANNELS = ("email", "slack")
_PAGES = {"daily": "health", "weekly": "rule_review"}


def latest_tick(schedule: str, timezone: str, now: datetime) -> datetime:
    """The newest cron tick at or before `now` (aware UTC), read in the report's time zone."""
    local = now.astimezone(ZoneInfo(timezone))
    base = local + timedelta(seconds=1)  # a tick exactly at `now` counts
    return croniter(schedule, base).get_prev(datetime).astimezone(now.tzinfo)


def _recipients(policy: Policy, teams: Sequence[str], channels: tuple[str, ...]) -> list[tuple[str, Any]]:
    names = list(teams) or [policy.default_team]
    found = [(name, target) for name in names for target in targets_for(policy.teams[name], channels)]
    unique = {(t.channel, t.destination): (name, t) for name, t in found}
    return list(unique.values())


def _row(kind: str, target: Any, payload: dict[str, Any], severity: str, dedup: str, now: datetime) -> NewAlert:
    status = outbox.SENT if target == STORE else outbox.PENDING
    return NewAlert(kind=kind, channel=target.channel, destination=target.destination, payload=payload,
                    severity=severity, dedup_key=dedup, status=status,
                    next_attempt_at=now if status == outbox.PENDING else None)


# --- reports -------------------------------------------------------------------------------


def report_payload(spec: ReportSpec, due_at: datetime) -> dict[str, Any]:
    """What every channel renders: the report's Markdown, its KPI table (daily) or sections (weekly), a link."""
    base = str(settings.get("DQ_CONSOLE_URL")).rstrip("/")
    payload: dict[str, Any] = {"event": "report", "report": spec.name, "kind": spec.kind,
                               "due_at": due_at.isoformat(), "link": f"{base}/{_PAGES[spec.kind]}",
                               "text": reports.daily("md") if spec.kind == "daily" else reports.weekly("md")}
    if spec.kind == "daily":
        summary = kpis.daily_summary(Window.last(24, due_at))
        payload["title"] = f"Daily DQ health check, {due_at:%Y-%m-%d %H:%M} UTC"
        payload["kpis"] = [_kpi_row(k) for k in summary.kpis]
        payload["facts"] = {"runs": sum(summary.runs_by_status.values()), "rules_enabled": summary.rules_enabled,
                            "unacknowledged_24h": summary.unacknowledged_in_window,
                            "open_violations": summary.open_violations}
    else:
        review = store_review.weekly_review()
        payload["title"] = f"Weekly DQ rule review, {due_at:%Y-%m-%d %H:%M} UTC"
        payload["sections"] = {name: reports.jsonable(frame.head(10).to_dicts()) for name, frame in review.sections().items()}
    return payload


def _kpi_row(k: Kpi) -> dict[str, Any]:
    return {"key": k.key, "label": k.label, "value": k.shown(), "target": k.target,
            "status": {"on target": "OK", "off target": "OFF TARGET"}.get(k.state(), k.state())}


def deliver_report(spec: ReportSpec, due_at: datetime, now: datetime, policy: Policy) -> int | None:
    """Queue one tick of `spec` unless another scheduler did; returns its report_runs id."""
    with db.read() as conn:
        if (store_reports.last_tick(conn, spec.name) or datetime.min.replace(tzinfo=due_at.tzinfo)) >= due_at:
            return None
    payload = report_payload(spec, due_at)
    rows = [_row("report", target, {**payload, "team": team}, "INFO", f"report:{spec.name}", now)
            for team, target in _recipients(policy, spec.to, REPORT_CHANNELS)]
    with db.write() as conn:
        run_id = store_reports.claim_tick(conn, spec.name, spec.kind, due_at, _me(), now)
        if run_id is None:
            return None
        store_reports.record_deliveries(conn, run_id, outbox.add(conn, rows, now))
    return run_id


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@housekeeping.job(every_seconds=60)
def deliver_scheduled_reports(now: datetime, config: ReportsConfig | None = None) -> list[int]:
    """Every report whose newest tick is due, not yet delivered and at most GRACE old."""
    policy = current_policy()
    config = config or report_config.load(teams=policy.teams)
    done = []
    for spec in config.reports:
        if not spec.enabled:
            continue
        due_at = latest_tick(spec.schedule, config.timezone, now)
        if now - due_at <= GRACE and (run_id := deliver_report(spec, due_at, now, policy)) is not None:
            done.append(run_id)
    return done


# --- SLA notices ---------------------------------------------------------------------------


def _notice(event: str, k: Kpi, since: datetime, now: datetime) -> dict[str, Any]:
    base = str(settings.get("DQ_CONSOLE_URL")).rstrip("/")
    minutes = (now - since).total_seconds() / 60
    if event == "sla_breach":
        text = (f"SLA breached: {k.label} is {k.shown()} against the runbook target {k.target}, "
                f"off target for {minutes:.0f} min (since {since:%Y-%m-%d %H:%M} UTC)")
    else:
        text = (f"SLA recovered: {k.label} is {k.shown()}, back on the target {k.target} "
                f"after {minutes:.0f} min off it")
    return {"event": event, "text": text, "kpi": k.key, "value": k.value, "target": k.target,
            "since": since.isoformat(), "link": f"{base}/health",
            "severity": "HIGH" if event == "sla_breach" else "INFO"}


@housekeeping.job(every_seconds=60)
def announce_sla_breaches(now: datetime, config: ReportsConfig | None = None) -> list[str]:
    """Notices sent this call, as "sla_breach:KPI" / "sla_recovered:KPI"."""
    policy = current_policy()
    config = config or report_config.load(teams=policy.teams)
    sla = config.sla
    if not sla.enabled:
        return []
    sent = []
    for k in kpis.health_kpis(Window.last(sla.window_hours, now)):
        if k.key not in sla.kpis or k.ok is None:
            continue  # no data is not a breach (a new install), nor a recovery
        with db.write() as conn:
            if k.ok is False:
                store_reports.open_breach(conn, k.key, k.value, k.target, now)
                state = store_reports.sla_state(conn, k.key)
                ripe = state is not None and now - state.breached_since >= timedelta(minutes=sla.for_minutes)
                if not (ripe and state is not None and state.notified_at is None
                        and store_reports.claim_notice(conn, k.key, now)):
                    continue
                event, since = "sla_breach", state.breached_since
            else:
                closed = store_reports.close_breach(conn, k.key)
                if closed is None or closed.notified_at is None:
                    continue  # never announced: its recovery is no news
                event, since = "sla_recovered", closed.breached_since
            payload = _notice(event, k, since, now)
            rows = [_row(event, target, {**payload, "team": team}, str(payload["severity"]), f"sla:{k.key}", now)
                    for team, target in _recipients(policy, sla.to, NOTICE_CHANNELS)]
            outbox.add(conn, rows, now)
        sent.append(f"{event}:{k.key}")
    return sent
