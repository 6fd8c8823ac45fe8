"""Violations: filter, acknowledge many with a note, snooze, open one to its rule, rows and history.

Deep links: `?rule=NAME` pre-filters by rule, `?violation=ID` opens one violation (alerts link here).
"""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st

import clock
from console import data
from console.page import fmt_time, start
from ops.roles import User
from ops.run_requests import request_run
from store import queries, violations
from store.errors import NotFound
from store.queries import SEVERITIES, ViolationFilter

STATUSES = ("open", "acknowledged", "resolved")
SINCE = {"Any time": None, "Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
ACKED = {"Any": None, "Not acknowledged": False, "Acknowledged": True}
SNOOZE = {"1 hour": 1, "4 hours": 4, "8 hours": 8, "24 hours": 24, "3 days": 72, "7 days": 168}
SHOWN = ["id", "severity", "status", "rule_name", "suite", "source", "detected_at", "last_seen_at",
         "occurrences", "observed_value", "threshold", "failing_rows", "acknowledged_by", "snoozed_until"]


def _deep_link(name: str) -> str | None:
    value = st.query_params.get(name)
    return value or None


def read_filter(options: queries.FilterOptions) -> ViolationFilter:
    deep_rule = _deep_link("rule")
    rules = sorted({*options.rules, deep_rule} - {None})
    with st.expander("Filters", expanded=True):
        a, b, c = st.columns(3)
        severities = a.multiselect("Severity", SEVERITIES, key="f_severity")
        suites = b.multiselect("Suite (table)", options.suites, key="f_suite")
        sources = c.multiselect("Database", options.sources, key="f_source")
        d, e, f, g = st.columns([2, 1, 1, 1])
        chosen_rules = d.multiselect("Rule", rules, default=[deep_rule] if deep_rule else [], key="f_rule")
        statuses = e.multiselect("Status", STATUSES, default=["open", "acknowledged"], key="f_status")
        acked = f.selectbox("Acknowledged", list(ACKED), key="f_acked")
        since = g.selectbox("Detected", list(SINCE), key="f_since")
    days = SINCE[since]
    return ViolationFilter(
        severities=tuple(severities), suites=tuple(suites), sources=tuple(sources), rules=tuple(chosen_rules),
        statuses=tuple(statuses), acknowledged=ACKED[acked],
        detected_since=None if days is None else data.minute_now() - timedelta(days=days),
    )


def label(row: dict) -> str:
    return f"#{row['id']} {row['severity']} {row['rule_name']} ({row['status']}, {fmt_time(row['detected_at'])})"


def bulk_actions(listed: pl.DataFrame, user: User) -> None:
    open_rows = listed.filter(pl.col("status") != "resolved")
    labels = {row["id"]: label(row) for row in open_rows.iter_rows(named=True)}
    chosen = st.multiselect("Select violations to act on", list(labels), format_func=labels.get, key="selected")
    left, right = st.columns([3, 2])
    note = left.text_input("Note for the acknowledgement", key="ack_note",
                           placeholder="e.g. upstream load re-running, ticket DATA-123")
    if left.button("Acknowledge selected", key="ack_button", type="primary", disabled=not chosen):
        ok, changed = data.write(violations.acknowledge, chosen, user.name, note)
        if ok and changed is not None:
            st.toast(f"Acknowledged {len(changed)} violation(s) as {user.name}")
            st.rerun()
    period = right.selectbox("Snooze alerts for", list(SNOOZE), index=1, key="snooze_for")
    until = clock.utcnow() + timedelta(hours=SNOOZE[period])
    if right.button(f"Snooze selected until {fmt_time(until)}", key="snooze_button", disabled=not chosen):
        ok, changed = data.write(violations.snooze, chosen, user.name, until, note)
        if ok and changed is not None:
            st.toast(f"Snoozed {len(changed)} violation(s) until {fmt_time(until)}")
            st.rerun()


STATUS_COLORS = {"PASSED": "#2da44e", "WARNED": "#d4a72c", "FAILED": "#cf222e", "ERROR": "#8250df",
                 "SKIPPED": "#8c959f"}


def history_chart(rule_name: str) -> None:
    history = data.load(queries.rule_history, rule_name, 30, now=data.minute_now())
    if history.is_empty():
        st.info("No results for this rule in the last 30 days.")
        return
    statuses = history["status"].to_list()
    trace = go.Scatter(x=history["finished_at"].to_list(), y=statuses, mode="markers",
                       marker={"color": [STATUS_COLORS.get(s, "#8c959f") for s in statuses], "size": 9},
                       text=[f"run {r}: observed {o}" for r, o in zip(history["run_id"], history["observed_value"], strict=True)])
    fig = go.Figure(trace)
    fig.update_layout(height=240, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      yaxis={"categoryorder": "array", "categoryarray": list(STATUS_COLORS)})
    st.plotly_chart(fig, width="stretch")


def run_now(v: dict, user: User) -> None:
    if st.button("Run now", key="run_now", help="Queue a run of this rule for the scheduler"):
        ok, request_id = data.write(request_run, v["suite"], v["rule_name"],
                                    requested_by=user.name, origin="console")
        if ok:
            st.success(f"Run request #{request_id} queued for {v['rule_name']}; the scheduler picks it up shortly.")


def resolve_form(v: dict, user: User) -> None:
    if v["status"] == "resolved":
        st.caption(f"Resolved {fmt_time(v['resolved_at'])} by {v['resolved_by']} ({v['resolution']})"
                   + (f": {v['resolution_note']}" if v["resolution_note"] else ""))
        return
    with st.form("resolve", border=True):
        reason = st.selectbox("Resolve by hand", violations.RESOLUTIONS, key="resolve_reason",
                              format_func=lambda r: r.replace("_", " "))
        note = st.text_input("Why", key="resolve_note")
        if st.form_submit_button("Resolve", key="resolve_button") and data.write(
            violations.resolve, v["id"], user.name, reason, note
        )[0]:
            st.toast(f"Resolved #{v['id']}")
            st.rerun()


def detail(violation_id: int, user: User) -> None:
    try:
        v = data.load(queries.violation, violation_id).row(0, named=True)
    except NotFound as exc:
        st.warning(str(exc))
        return
    st.subheader(f"#{v['id']} {v['severity']} · {v['rule_name']}")
    st.markdown(f"Suite **{v['suite']}** on database **{v['source']}** · [rule on the Rules page](rules?rule={v['rule_name']})")
    a, b, c, d = st.columns(4)
    observed = "—" if v["observed_value"] is None else f"{v['observed_value']:g}"
    a.metric("Observed", observed, delta=f"threshold: {v['threshold'] or '—'}", delta_color="red", delta_arrow="off")
    b.metric("Failing rows", "—" if v["failing_rows"] is None else f"{v['failing_rows']:,}")
    c.metric("Occurrences", v["occurrences"])
    d.metric("Status", v["status"])
    st.caption(f"Detected {fmt_time(v['detected_at'])} · last seen {fmt_time(v['last_seen_at'])}"
               + (f" · snoozed until {fmt_time(v['snoozed_until'])}" if v["snoozed_until"] else ""))
    if v["message"]:
        st.markdown(f"> {v['message']}")
    if v["acknowledged_by"]:
        st.caption(f"Acknowledged by {v['acknowledged_by']} at {fmt_time(v['acknowledged_at'])}"
                   + (f": {v['ack_note']}" if v["ack_note"] else ""))
    st.markdown("**Failing-row sample** (PII masked)")
    sample = data.load(queries.failing_rows, violation_id)
    if sample.is_empty():
        st.caption("No sample kept.")
    else:
        st.dataframe(sample, hide_index=True)
    st.markdown("**Pass/fail history of the rule (30 days)**")
    history_chart(v["rule_name"])
    run_now(v, user)
    resolve_form(v, user)


def choose_detail(listed: pl.DataFrame) -> int | None:
    deep = _deep_link("violation")
    deep_id = int(deep) if deep and deep.isdigit() else None
    ids = listed["id"].to_list()
    if deep_id is not None and deep_id not in ids:
        ids = [deep_id, *ids]
    labels = {row["id"]: label(row) for row in listed.iter_rows(named=True)}
    chosen = st.selectbox("Open a violation", ids, index=ids.index(deep_id) if deep_id in ids else None,
                          format_func=lambda i: labels.get(i, f"#{i}"), key="detail",
                          placeholder="pick one to see its rows, history and actions")
    if chosen is not None and str(chosen) != st.query_params.get("violation"):
        st.query_params["violation"] = str(chosen)  # the address bar now links to this violation
    elif chosen is None and "violation" in st.query_params:
        del st.query_params["violation"]
    return chosen


user = start("Violations", "open → acknowledged → resolved; select many to acknowledge with one note.")
wanted = read_filter(data.load(queries.filter_options))
listed = data.load(queries.violations_list, wanted)
total = data.load(queries.violations_count, wanted)
st.caption(f"{total:,} violation(s) match; showing the newest {len(listed):,}.")
st.dataframe(listed.select(SHOWN), hide_index=True, width="stretch", key="table")
bulk_actions(listed, user)
st.divider()
chosen_id = choose_detail(listed)
if chosen_id is not None:
    detail(chosen_id, user)
