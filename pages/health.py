"""Health: scheduler and store status, the runbook's KPIs with targets, and its Grafana panels."""

from __future__ import annotations

from datetime import timedelta

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from console import data
from console.page import fmt_time, start
from store import kpis, queries
from store.kpis import Kpi, Window

WINDOWS = {"Last 24 hours": 24, "Last 7 days": 24 * 7, "Last 30 days": 24 * 30}
REFRESH_SECONDS = 60
STALE_HEARTBEAT_SECONDS = 60


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
        alive = newest["status"] == "running" and age is not None and age <= STALE_HEARTBEAT_SECONDS + 60
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


def panels(window: Window) -> None:
    left, right = st.columns(2)
    over_time = data.load(kpis.success_over_time, window)
    left.subheader("Check success rate")
    if over_time.is_empty():
        left.info("No results in this window.")
    else:
        fig = px.line(over_time.to_pandas(), x="slot", y="success_rate", markers=True,
                      labels={"slot": "", "success_rate": "success %"})
        fig.add_hline(y=95, line_dash="dot", annotation_text="target 95%")
        left.plotly_chart(fig, width="stretch")
    by_severity = data.load(kpis.violations_by_severity, window)
    right.subheader("Violations by severity")
    if by_severity.is_empty():
        right.info("No violations detected in this window.")
    else:
        right.plotly_chart(px.pie(by_severity.to_pandas(), names="severity", values="violations"), width="stretch")
    left, right = st.columns(2)
    left.subheader("Top failing rules")
    top = data.load(kpis.top_failing_rules, window)
    left.dataframe(top, hide_index=True, width="stretch") if not top.is_empty() else left.info("No failing rules.")
    right.subheader("Check duration")
    durations = data.load(kpis.check_durations, window)
    if durations.is_empty():
        right.info("No finished runs in this window.")
    else:
        right.plotly_chart(px.histogram(durations.to_pandas(), x="seconds", nbins=30), width="stretch")
    left, right = st.columns(2)
    left.subheader("Alert response times")
    responses = data.load(kpis.response_times, window)
    if responses.is_empty():
        left.info("No acknowledged alerts in this window.")
    else:
        fig = px.scatter(responses.to_pandas(), x="acknowledged_at", y="response_minutes", color="severity")
        fig.add_hline(y=15, line_dash="dot", annotation_text="target 15 min")
        left.plotly_chart(fig, width="stretch")
    right.subheader("Queue length")
    gauge = go.Indicator(mode="gauge+number", value=data.load(queries.queue_length),
                         title={"text": "pending run requests"}, gauge={"axis": {"range": [0, 50]}})
    right.plotly_chart(go.Figure(gauge), width="stretch")


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
