"""Health: scheduler and store status, the runbook's KPIs with targets, and its Grafana panels."""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import streamlit as st

import settings
from console import data
from console.page import fmt_time, start
from store import kpis, queries
from store.kpis import Kpi, Window

WINDOWS = {"Last 24 hours": 24, "Last 7 days": 24 * 7, "Last 30 days": 24 * 30}
REFRESH_SECONDS = 60


def scheduler_status() -> None:
    beats = data.load(queries.heartbeats, now=data.minute_now())
    queue = data.load(queries.queue_length)
    status = data.store_status()
    left, mid, right = st.columns(3)
    left.success(f"Store OK: {status.url}")
    if beats.is_empty():
        mid.error("Scheduler: no heartbeat ever recorded. Hint: start the scheduler process (docs/scheduler.md) and check its log.")
    else:
        newest = beats.row(0, named=True)
        age = (data.minute_now() - newest["beat_at"]).total_seconds() if newest["beat_at"] else None
        text = f"Scheduler {newest['scheduler_id']} ({newest['status']}), last heartbeat {fmt_time(newest['beat_at'])}"
        # Three missed beats, plus the minute the page's clock is rounded to.
        stale_after = 3 * float(settings.get("DQ_HEARTBEAT_SECONDS")) + 60
        alive = newest["status"] == "running" and age is not None and age <= stale_after
        (mid.success if alive else mid.error)(text)
    right.info(f"Run requests waiting: {queue}")


def kpi_tile(column: st.delta_generator.DeltaGenerator, kpi: Kpi) -> None:
    state = {True: "on target", False: "off target", None: "no data"}[kpi.ok]
    color = {True: "green", False: "red", None: "gray"}[kpi.ok]
    column.metric(kpi.label, kpi.shown(), delta=f"{state} (target {kpi.target})", delta_color=color,
                  delta_arrow="off", help=kpi.definition, border=True)


def kpi_grid(values: tuple[Kpi, ...]) -> None:
    for row in (values[:4], values[4:]):
        for column, kpi in zip(st.columns(4), row, strict=True):
            kpi_tile(column, kpi)


def summary_line(summary: kpis.DailySummary) -> None:
    runs = sum(summary.runs_by_status.values())
    failed = summary.runs_by_status.get("FAILED", 0) + summary.runs_by_status.get("ERROR", 0)
    st.caption(
        f"Runs in window: {runs} ({failed} failed or errored) · enabled rules: {summary.rules_enabled}"
        f" of {summary.rules_total} · unacknowledged violations detected in window: "
        f"{summary.unacknowledged_in_window} · open violations now: {summary.open_violations}"
    )


def _chart(column: st.delta_generator.DeltaGenerator, *traces: go.BaseTraceType, **layout: object) -> None:
    # graph_objects straight from Polars lists: plotly.express would go through pandas (slower).
    fig = go.Figure(list(traces))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10}, **layout)
    column.plotly_chart(fig, width="stretch")


def panels(window: Window) -> None:
    left, right = st.columns(2)
    over_time = data.load(kpis.success_over_time, window)
    left.subheader("Check success rate")
    if over_time.is_empty():
        left.info("No results in this window.")
    else:
        _chart(left, go.Scatter(x=over_time["slot"].to_list(), y=over_time["success_rate"].to_list(),
                                mode="lines+markers", name="success %"),
               yaxis_title="success %", shapes=[_target_line(95)])
    by_severity = data.load(kpis.violations_by_severity, window)
    right.subheader("Violations by severity")
    if by_severity.is_empty():
        right.info("No violations detected in this window.")
    else:
        _chart(right, go.Pie(labels=by_severity["severity"].to_list(), values=by_severity["violations"].to_list()))
    left, right = st.columns(2)
    left.subheader("Top failing rules")
    top = data.load(kpis.top_failing_rules, window)
    if top.is_empty():
        left.info("No failing rules.")
    else:
        left.dataframe(top, hide_index=True, width="stretch")
    right.subheader("Check duration")
    durations = data.load(kpis.check_durations, window)
    if durations.is_empty():
        right.info("No finished runs in this window.")
    else:
        _chart(right, go.Histogram(x=durations["seconds"].to_list(), nbinsx=30), xaxis_title="seconds per run")
    left, right = st.columns(2)
    left.subheader("Alert response times")
    responses = data.load(kpis.response_times, window)
    if responses.is_empty():
        left.info("No acknowledged alerts in this window.")
    else:
        _chart(left, go.Scatter(x=responses["acknowledged_at"].to_list(), y=responses["response_minutes"].to_list(),
                                mode="markers", text=responses["severity"].to_list()),
               yaxis_title="minutes to acknowledge", shapes=[_target_line(15)])
    right.subheader("Queue length")
    _chart(right, go.Indicator(mode="gauge+number", value=data.load(queries.queue_length),
                               title={"text": "pending run requests"}, gauge={"axis": {"range": [0, 50]}}))


def _target_line(y: float) -> dict[str, object]:
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": y, "y1": y, "line": {"dash": "dot"}}


@st.fragment(run_every=timedelta(seconds=REFRESH_SECONDS))
def live(hours: int) -> None:
    window = Window.last(hours, data.minute_now())
    scheduler_status()
    st.caption(f"Window {fmt_time(window.since)} → {fmt_time(window.until)}; refreshes every {REFRESH_SECONDS} s.")
    summary = data.load(kpis.daily_summary, window)  # the KPIs and the daily report's counts, one read
    kpi_grid(summary.kpis)
    summary_line(summary)
    panels(window)


start("Health", "What is broken, since when, how bad, who is on it.")
choice = st.segmented_control("Window", list(WINDOWS), default="Last 24 hours", key="window")
live(WINDOWS[choice or "Last 24 hours"])
