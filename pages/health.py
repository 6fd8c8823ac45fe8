"""Health: scheduler and store status, the runbook's KPIs with targets, and its Grafana panels."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from console import charts, data, links
from console.page import fmt_time, start
from console.wording import SEVERITY_COLORS, duration
from store import kpis, queries
from store.kpis import Kpi, Window

WINDOWS = {"Last 24 hours": 24, "Last 7 days": 24 * 7, "Last 30 days": 24 * 30}
REFRESH_SECONDS = 60
STATE_COLORS = {"on target": "green", "off target": "red", "no data": "gray", "no target": "gray"}


@st.fragment(run_every=kpis.heartbeat_interval())
def scheduler_status() -> None:
    """Refreshed every heartbeat interval, uncached: red within one interval of a stop."""
    box = kpis.scheduler_box(data.engine())
    status = data.store_status()
    left, mid, right = st.columns(3)
    left.success(f"Store OK: {status.url}")
    (mid.success if box.alive else mid.error)(box.text)
    right.info(f"Run requests waiting: {data.load(queries.queue_length)}")


def kpi_tile(column: st.delta_generator.DeltaGenerator, kpi: Kpi) -> None:
    state = kpi.state()
    with column.container(border=True):
        st.metric(kpi.label, kpi.shown(), delta=state, delta_color=STATE_COLORS[state],  # type: ignore[arg-type]
                  delta_arrow="off", help=kpi.definition)
        st.caption(" · ".join(x for x in (f"target {kpi.target}" if kpi.target else "no target", kpi.detail) if x))


def kpi_grid(values: tuple[Kpi, ...]) -> None:
    for row in (values[:5], values[5:]):
        for column, kpi in zip(st.columns(5), row, strict=False):
            kpi_tile(column, kpi)


def summary_line(summary: kpis.DailySummary) -> None:
    runs = sum(summary.runs_by_status.values())
    failed = summary.runs_by_status.get("FAILED", 0)
    errored = summary.runs_by_status.get("ERROR", 0)
    st.caption(
        f"Runs in window: {runs:,} ({failed:,} found bad data, {errored:,} could not run) · enabled rules: "
        f"{summary.rules_enabled} of {summary.rules_total} · unacknowledged violations detected in window: "
        f"{summary.unacknowledged_in_window} · open violations now: {summary.open_violations}"
    )


def success_panel(column: st.delta_generator.DeltaGenerator, window: Window) -> None:
    column.subheader("Check success rate")
    over_time = data.load(kpis.success_over_time, window)
    with column:
        if over_time.is_empty():
            st.info("No results in this window.")
            return
        charts.show(charts.rate_over_time(over_time["slot"], over_time["success_rate"], window.since, window.until,
                                          "success %", "checks that ran (not ERROR), %", 95))


def severity_panel(column: st.delta_generator.DeltaGenerator, window: Window) -> None:
    column.subheader("Violations by severity")
    by_severity = data.load(kpis.violations_by_severity, window)
    with column:
        if by_severity.is_empty():
            st.info("No violations detected in this window.")
            return
        ordered = by_severity.sort(pl.col("severity").replace_strict(list(SEVERITY_COLORS), range(5), default=9))
        charts.show(charts.severity_pie(ordered["severity"].to_list(), ordered["violations"].to_list()))


def top_rules_panel(window: Window) -> None:
    st.subheader("Top failing rules")
    top = data.load(kpis.top_failing_rules, window)
    if top.is_empty():
        st.info("No failing rules.")
        return
    shown = top.with_columns(rule=links.rule_urls("rule_name"), table=links.table_urls("suite"))
    st.dataframe(
        shown.select("rule", "table", "severity", "failed", "results", "failure_rate"), hide_index=True,
        width="stretch",
        column_config={
            "rule": st.column_config.LinkColumn("Rule", display_text=links.RULE_TEXT, width="large"),
            "table": st.column_config.LinkColumn("Table", display_text=links.TABLE_TEXT, width="medium"),
            "severity": st.column_config.TextColumn("Severity", width="small"),
            "failed": st.column_config.NumberColumn("Failed", format="%d"),
            "results": st.column_config.NumberColumn("Results", format="%d"),
            "failure_rate": st.column_config.ProgressColumn("Failure rate", format="%.1f%%", min_value=0,
                                                            max_value=100),
        },
    )


def panels(window: Window) -> None:
    left, right = st.columns(2)
    success_panel(left, window)
    severity_panel(right, window)
    top_rules_panel(window)
    left, right = st.columns(2)
    with left:
        durations_panel(window)
    with right:
        responses_panel(window)
    left, _ = st.columns(2)
    left.subheader("Queue length")
    queue = data.load(queries.queue_length)
    with left:
        charts.show(charts.gauge(queue, "pending run requests", max(50, queue)), height=260)


def durations_panel(window: Window) -> None:
    st.subheader("Check duration")
    durations = data.load(kpis.check_durations, window)
    if durations.is_empty():
        st.info("No finished runs in this window.")
        return
    seconds = durations["seconds"]
    st.caption(f"{len(seconds):,} runs; median {duration(seconds.median())}, "  # type: ignore[arg-type]
               f"slowest {duration(seconds.max())}")  # type: ignore[arg-type]
    charts.show(charts.histogram(seconds, 30, "seconds per run", "runs"))


def responses_panel(window: Window) -> None:
    st.subheader("Alert response times")
    responses = data.load(kpis.response_times, window)
    if responses.is_empty():
        st.info("No acknowledged alerts in this window.")
        return
    charts.show(charts.minutes_by_severity(responses["acknowledged_at"], responses["response_minutes"],
                                           responses["severity"].to_list(), window.since, window.until,
                                           "minutes to acknowledge", 15))


@st.fragment(run_every=timedelta(seconds=REFRESH_SECONDS))
def live(hours: int) -> None:
    window = Window.last(hours)  # to the next whole minute, as `report daily` and the health JSON
    st.caption(f"Window {fmt_time(window.since)} → {fmt_time(window.until)}; refreshes every {REFRESH_SECONDS} s.")
    summary = data.load(kpis.daily_summary, window)  # the KPIs and the daily report's counts, one read
    kpi_grid(summary.kpis)
    summary_line(summary)
    panels(window)


start("Health", "What is broken, since when, how bad, who is on it.")
scheduler_status()
choice = st.segmented_control("Window", list(WINDOWS), default="Last 24 hours", key="window")
live(WINDOWS[choice or "Last 24 hours"])
