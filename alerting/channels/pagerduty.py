"""PagerDuty Events API v2: one event per outbox row; dedup_key per rule, trigger on failure, resolve on recovery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import settings
from alerting import messages
from alerting.channels.http_post import endpoint, post_json
from store.alerts import Alert

SEVERITY = {"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "info", "INFO": "info"}


def dedup_key(rule_name: str) -> str:
    """One key per rule, so repeats of a failing rule group into one incident."""
    return f"dq-rule:{rule_name}"[:255]


def error_dedup_key(rule_name: str) -> str:
    """A rule that could not run is its own incident, apart from its data failures."""
    return f"dq-rule-error:{rule_name}"[:255]


def event(routing_key: str, row: Alert) -> dict[str, Any]:
    """The exact Events API v2 document for one outbox row."""
    item = row.payload
    key = row.dedup_key or dedup_key(str(item["rule"]))
    if row.kind == "resolve":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": messages.line(item)[:1024],
            "source": f"dq-console/{item['source']}",
            "severity": SEVERITY.get(str(item["severity"]), "error"),
            "component": item["table"],
            "group": item["suite"],
            "class": item["check_type"],
            "custom_details": {
                "rule": item["rule"],
                "event": item["event"],
                "violation_id": item["violation_id"],
                "observed_value": item["observed_value"],
                "threshold": item["threshold"],
                "failing_rows": item["failing_rows"],
                "occurrences": item["occurrences"],
                "detected_at": item["detected_at"],
            },
        },
        "links": [{"href": item["link"], "text": f"Violation #{item['violation_id']} in the DQ console"}],
    }


def send(destination: str, rows: Sequence[Alert]) -> None:
    routing_key = endpoint(destination, "PagerDuty")
    url = str(settings.get("DQ_PAGERDUTY_EVENTS_URL"))
    for row in rows:
        post_json(url, event(routing_key, row), label=f"PagerDuty ({destination})")
