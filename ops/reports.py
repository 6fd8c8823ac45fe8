"""The runbook's daily health check and weekly rule review as text: the console's numbers, by the same functions.

`python manage.py report daily|weekly` prints them; the scheduler delivers them on their cron
(ops/scheduled_reports.py, config/reports.yaml).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

import polars as pl

from store import kpis, queries, review
from store.kpis import DailySummary, Window

# --- daily ------------------------------------------------------------------------------------


def daily(fmt: str) -> str:
    summary = kpis.daily_summary(Window.last(24))
    beats = queries.heartbeats(now=summary.generated_at)
    if fmt == "json":
        body = jsonable(asdict(summary))
        body["schedulers"] = jsonable(beats.to_dicts())
        body["store"] = queries.store_status().url
        return json.dumps(body, indent=2)
    return daily_markdown(summary, beats)


def daily_markdown(summary: DailySummary, beats: pl.DataFrame) -> str:
    w = summary.window
    lines = [f"# Daily DQ health check, {_t(summary.generated_at)}", "",
             f"Window: {_t(w.since)} to {_t(w.until)}", "", "## System health", "",
             f"- Store: {queries.store_status().url} (OK)"]
    if beats.is_empty():
        lines.append("- Scheduler: no heartbeat ever recorded")
    for beat in beats.iter_rows(named=True):
        lines.append(f"- Scheduler {beat['scheduler_id']}: {beat['status']}, last heartbeat "
                     f"{_t(beat['beat_at'])} ({beat['age_seconds']:.0f} s ago)")
    lines += [f"- Run requests waiting: {summary.queue_length}", "", "## KPIs", "",
              "| KPI | Value | Target | Status |", "| --- | --- | --- | --- |"]
    for k in summary.kpis:
        state = {"on target": "OK", "off target": "OFF TARGET"}.get(k.state(), k.state())
        value = f"{k.shown()} ({k.detail})" if k.detail else k.shown()
        lines.append(f"| {k.label} | {value} | {k.target or '-'} | {state} |")
    runs = ", ".join(f"{s}: {n}" for s, n in sorted(summary.runs_by_status.items())) or "none"
    lines += ["", "## Recent activity (24 h)", "", f"- Runs: {sum(summary.runs_by_status.values())} ({runs})",
              "", "## Active rules", "", f"- Total rules: {summary.rules_total}",
              f"- Enabled rules: {summary.rules_enabled}", "", "## Unacknowledged violations", "",
              f"- Unacknowledged violations (24h): {summary.unacknowledged_in_window}",
              f"- Open violations now: {summary.open_violations}"]
    return "\n".join(lines)


# --- weekly -----------------------------------------------------------------------------------


def weekly(fmt: str) -> str:
    report = review.weekly_review()
    if fmt == "json":
        return report.to_json()
    lines = [f"# Weekly DQ rule review, {_t(report.generated_at)}"]
    for name, frame in report.sections().items():
        lines += ["", f"## {name.replace('_', ' ').capitalize()}", "", markdown_table(frame)]
    return "\n".join(lines)


def markdown_table(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "_none_"
    text = frame.with_columns(pl.all().cast(pl.Utf8).fill_null(""))
    rows = ["| " + " | ".join(frame.columns) + " |", "|" + " --- |" * len(frame.columns)]
    rows += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in text.iter_rows()]
    return "\n".join(rows)


def _t(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def jsonable(value: Any) -> Any:
    """Dicts, lists and datetimes (as ISO text) ready for json.dumps."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
