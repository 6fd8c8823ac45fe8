"""Slack incoming webhooks: one message per batch, a header and one section per violation event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alerting import messages
from alerting.channels.http_post import endpoint, post_json
from store.alerts import Alert

MAX_SECTIONS = 45  # Slack accepts at most 50 blocks per message
_ICONS = {
    "notice": ":information_source:", "new": ":red_circle:", "could_not_check": ":warning:",
    "still_failing": ":large_orange_circle:", "still_could_not_check": ":warning:", "escalated": ":rotating_light:",
    "recovered": ":large_green_circle:", "checked_again": ":large_green_circle:",
}


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (&, <, >) as entities, so data cannot inject links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_destination(destination: str) -> tuple[str, str | None]:
    setting, _, channel = destination.partition(" ")
    return setting, channel or None


def body(destination: str, rows: Sequence[Alert]) -> dict[str, Any]:
    """The exact JSON posted to the webhook."""
    _, channel = parse_destination(destination)
    items = messages.ordered([row.payload for row in rows])
    title = messages.headline(items)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    if messages.is_report(items):
        blocks += [b for item in items[:5] for b in _report_blocks(item)]
        items = items[:5]
    else:
        blocks += [_section(item) for item in items[:MAX_SECTIONS]]
    if len(items) > MAX_SECTIONS:
        more = f"and {len(items) - MAX_SECTIONS} more in the console"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    message: dict[str, Any] = {"text": title, "blocks": blocks}
    if channel:
        message["channel"] = channel
    return message


def _section(item: Mapping[str, Any]) -> dict[str, Any]:
    icon = _ICONS[messages.event_of(item)]
    text = f"{icon} {escape(messages.line(item))}"
    if item.get("link") and item.get("violation_id") is not None:
        text += f"\n<{item['link']}|Open violation #{item['violation_id']}>"
    elif item.get("link"):
        text += f"\n<{item['link']}|Open in the console>"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _report_blocks(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A report: KPI fields (two columns, at most 10 per section, as Slack allows), then the link."""
    blocks: list[dict[str, Any]] = []
    fields = [{"type": "mrkdwn", "text": escape(f"*{k['label']}*\n{k['value']} (target {k['target']}) {k['status']}")[:2000]}
              for k in item.get("kpis") or []]
    for start in range(0, len(fields), 10):
        blocks.append({"type": "section", "fields": fields[start:start + 10]})
    lines = messages.report_lines(item)[1 + len(item.get("kpis") or []):]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape("\n".join(lines))[:3000]}})
    if item.get("link"):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{item['link']}|Open the panels in the console>"}]})
    return blocks


def send(destination: str, rows: Sequence[Alert]) -> None:
    setting, _ = parse_destination(destination)
    post_json(endpoint(setting, "Slack"), body(destination, rows), label=f"Slack ({setting})")
