"""The words of an alert: one payload per violation event, and the headline and lines of a batch.

Payloads are written into the outbox when the alert is enqueued (a snapshot of the violation
at that moment); every channel renders its message from them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import settings
from store.alerts import ViolationFacts

EVENTS = ("new", "could_not_check", "still_failing", "still_could_not_check", "escalated", "recovered",
          "checked_again", "notice")
# The events of a could-not-check episode (a violation with verdict ERROR: the rule could not run).
ERROR_EVENTS = {"new": "could_not_check", "still_failing": "still_could_not_check", "recovered": "checked_again"}
_EVENT_WORDS = {
    "notice": ("notice", "notices"),
    "new": ("new violation", "new violations"),
    "could_not_check": ("could not check", "could not check"),
    "still_failing": ("still failing", "still failing"),
    "still_could_not_check": ("still could not check", "still could not check"),
    "escalated": ("escalated (not acknowledged)", "escalated (not acknowledged)"),
    "recovered": ("recovered", "recovered"),
    "checked_again": ("checked again", "checked again"),
}
_RANK = {"INFO": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def violation_link(violation_id: int, base: str | None = None) -> str:
    base = (base or str(settings.get("DQ_CONSOLE_URL"))).rstrip("/")
    return f"{base}/violations?violation={violation_id}"


def payload(
    violation: ViolationFacts, event: str, *, table: str | None = None, console_url: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The snapshot of one violation event that every channel renders.

    A could-not-check episode (verdict ERROR) gets its own events: could_not_check,
    still_could_not_check, checked_again.
    """
    if violation.verdict == "ERROR":
        event = ERROR_EVENTS.get(event, event)
    return {
        "event": event,
        "verdict": violation.verdict,
        "violation_id": violation.id,
        "rule": violation.rule_name,
        "suite": violation.suite,
        "table": table or violation.suite,
        "source": violation.source,
        "check_type": violation.check_type,
        "severity": violation.severity,
        "message": violation.message or "",
        "observed_value": _finite(violation.observed_value),
        "threshold": violation.threshold,
        "failing_rows": violation.failing_rows,
        "occurrences": violation.occurrences,
        "detected_at": violation.detected_at.isoformat(),
        "run_id": violation.last_run_id,
        "link": violation_link(violation.id, console_url),
        **extra,
    }


def event_of(item: Mapping[str, Any]) -> str:
    """The item's event; anything else another feature queued (e.g. a bypass rollback) is a notice."""
    event = item.get("event")
    return event if event in EVENTS else "notice"


def _finite(value: float | None) -> float | None:
    """NaN and infinity are not JSON (PostgreSQL's json type and Slack refuse them): None instead."""
    return value if value is None or math.isfinite(value) else None


def ordered(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """New and escalated first, then worst severity first, then by rule name."""
    return sorted(
        items,
        key=lambda p: (EVENTS.index(event_of(p)), -_RANK.get(str(p.get("severity")), 0), str(p.get("rule", ""))),
    )


def headline(items: Sequence[Mapping[str, Any]]) -> str:
    counts = Counter(event_of(p) for p in items)
    parts = [
        f"{counts[event]} {_EVENT_WORDS[event][counts[event] != 1]}" for event in EVENTS if counts[event]
    ]
    if all(p.get("event") == "report" for p in items) and items:
        return f"DQ: {items[0].get('title') or 'report'}"
    suites = sorted({str(p["suite"]) for p in items if p.get("suite")})
    if not suites:
        return f"DQ: {', '.join(parts)}"
    where = suites[0] if len(suites) == 1 else f"{len(suites)} suites"
    return f"DQ: {', '.join(parts)} in {where}"


def worst_severity(items: Sequence[Mapping[str, Any]]) -> str:
    return max((str(p.get("severity")) for p in items), key=lambda s: _RANK.get(s, 0))


def is_report(items: Sequence[Mapping[str, Any]]) -> bool:
    """A scheduled report travels alone (deliver.py batches it apart) and renders as a document."""
    return bool(items) and all(p.get("event") == "report" for p in items)


def report_lines(item: Mapping[str, Any]) -> list[str]:
    """A report as plain text: its title, KPI lines or section heads, and the console link."""
    lines = [str(item.get("title") or item.get("report"))]
    for k in item.get("kpis") or []:
        lines.append(f"- {k['label']}: {k['value']} (target {k['target']}): {k['status']}")
    for name, rows in (item.get("sections") or {}).items():
        lines.append(f"- {name.replace('_', ' ').capitalize()}: {len(rows)} row{'s' if len(rows) != 1 else ''}"
                     + (" (top 10)" if len(rows) == 10 else ""))
    return lines


def line(item: Mapping[str, Any]) -> str:
    """One plain-text line: severity, rule, table, what happened and the figures."""
    if item.get("event") == "report":
        return "; ".join(report_lines(item))
    if event_of(item) == "notice":
        return f"[{item.get('severity') or 'INFO'}] {item.get('text') or item.get('event')}"
    text = f"[{item['severity']}] {item['rule']} on {item['table']}: {_event_text(item)}"
    message = item.get("message")
    return f"{text} - {message}" if message else text


def _event_text(item: Mapping[str, Any]) -> str:
    event = item["event"]
    if event == "still_failing":
        return f"still failing ({item['occurrences']} runs since {item['detected_at']})"
    if event == "could_not_check":
        return "COULD NOT CHECK, the rule could not run"
    if event == "still_could_not_check":
        return f"still could not check ({item['occurrences']} runs since {item['detected_at']})"
    if event == "escalated":
        what = "could not check, " if item.get("verdict") == "ERROR" else ""
        return f"{what}not acknowledged after {item['after_minutes']:g} min, escalated to {item['team']} (level {item['level']})"
    if event == "recovered":
        return "recovered, the rule passes again"
    if event == "checked_again":
        return "checked again, the rule runs"
    return "new violation"
