"""Rule: one rule as on-call needs it: definition, severity, threshold, owner, schedule and next run,
recent results, the observed metric against its allowed band with violations and acknowledgements
marked, and Run now. Address: `rule?name=NAME` (every page links here)."""

from __future__ import annotations

from datetime import datetime, timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st
import yaml

import settings
from console import actions, data, links, wording
from console.page import fmt_time, start
from ops import anomaly, cron
from ops.roles import User
from store import queries
from store.errors import NotFound

DAYS = 30
RESULT_COLUMNS = {
    "finished_at": st.column_config.DatetimeColumn("Finished (UTC)", format="MM-DD HH:mm", width=115),
    "status": st.column_config.TextColumn("Verdict", width=80),
    "finding": st.column_config.TextColumn("Observed; allowed", width=330),
    "run": st.column_config.LinkColumn("Run", display_text=links.RUN_TEXT, width=60),
    "message": st.column_config.TextColumn("Message", width=420),
}


def next_due(schedule: str | None, timezone: str | None) -> str:
    if not schedule:
        return "no schedule (runs on request and from the gate)"
    try:
        due = cron.next_tick(schedule, timezone or str(settings.get("DQ_TIMEZONE")), data.minute_now())
    except cron.CronError as exc:
        return f"invalid schedule: {exc}"
    return f"`{schedule}` ({timezone or settings.get('DQ_TIMEZONE')}), next due {fmt_time(due)}"


def facts(rule: dict, suite: dict, last: dict | None) -> None:
    a, b, c, d = st.columns(4)
    a.metric("Severity", rule["severity"])
    b.metric("Last verdict", last["status"] if last else "not run in 30 days")
    c.metric("Lifecycle", rule["status"], help=rule["status_reason"] or None)
    d.metric("Allowed", wording.allowed(last["fail_level"], rule["check_type"]) if last else "—")
    left, right = st.columns(2)
    left.markdown(f"**Table:** {suite['table_name']} on database **{rule['source']}** · check `{rule['check_type']}`")
    left.page_link(links.TABLE_PAGE, label=f"Table page of {rule['suite']}", icon=":material/table:",
                   query_params={"suite": rule["suite"]})
    right.markdown(f"**Owner:** {rule['owner'] or suite['owner'] or '—'}")
    timezone = (suite.get("definition") or {}).get("timezone")
    right.markdown(f"**Schedule:** {next_due(rule['schedule'] or suite['schedule'], timezone)}")
    sampling = f"sampled, {rule['sample_size']:,} rows" if rule["use_sampling"] and rule["sample_size"] else (
        "sampled" if rule["use_sampling"] else "every row")
    right.caption(f"Reads {sampling} · alert cooldown {str(rule['alert_cooldown_minutes']) + ' min' if rule['alert_cooldown_minutes'] else 'as configured'} · "
                  f"version {rule['version']} from {rule['file'] or '?'}:{rule['line'] or '?'}")
    if last:
        st.markdown(f"**Newest result** ({fmt_time(last['finished_at'])}): "
                    f"{wording.verdict_line(rule['check_type'], last['observed_value'], last['failing_rows'], last['fail_level'])}")


def chart(rule: dict, history: pl.DataFrame, events: pl.DataFrame, now: datetime) -> None:
    """The observed metric over time, the allowed band shaded, violations and acknowledgements marked."""
    last_level = history["fail_level"].drop_nulls()
    axis = wording.metric(rule["check_type"], last_level[-1] if len(last_level) else None)
    values = history[axis.column].cast(pl.Float64) * axis.scale
    colors = [wording.VERDICT_COLORS.get(s, "#8c959f") for s in history["status"].to_list()]
    fig = go.Figure(go.Scatter(x=history["finished_at"].to_list(), y=values.to_list(), mode="lines+markers",
                               name=axis.label, line={"color": "#57606a"}, marker={"color": colors, "size": 8},
                               text=history["status"].to_list()))
    since = now - timedelta(days=DAYS)
    if axis.low is not None or axis.high is not None:
        top = axis.high if axis.high is not None else max([*values.drop_nulls().to_list(), axis.low or 0]) * 1.2
        fig.add_hrect(y0=axis.low if axis.low is not None else min(0.0, *values.drop_nulls().to_list()), y1=top,
                      fillcolor="#2da44e", opacity=0.12, line_width=0, annotation_text="allowed",
                      annotation_position="top left")
    if not events.is_empty():  # one trace, not a shape per violation: add_vline is slow by the hundred
        fig.add_trace(go.Scatter(x=events["detected_at"].to_list(), y=[1.0] * events.height, mode="markers",
                                 name="violation opened", yaxis="y2", text=[f"#{i}" for i in events["id"]],
                                 marker={"symbol": "x", "size": 10,
                                         "color": wording.SEVERITY_COLORS.get(rule["severity"], "#cf222e")}))
    acked = events.drop_nulls("acknowledged_at")
    if not acked.is_empty():
        fig.add_trace(go.Scatter(x=acked["acknowledged_at"].to_list(), y=[0.93] * acked.height, mode="markers",
                                 name="acknowledged", yaxis="y2", marker={"symbol": "triangle-down", "size": 12,
                                                                          "color": "#1f6feb"},
                                 text=acked["acknowledged_by"].to_list()))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=True,
                      legend={"orientation": "h", "y": 1.12},
                      xaxis={"type": "date", "range": [since, now], "tickformat": "%b %d"},
                      yaxis={"title": axis.label, "rangemode": "tozero"},
                      yaxis2={"overlaying": "y", "range": [0, 1.05], "visible": False})
    st.plotly_chart(fig, width="stretch")
    st.caption("Crosses along the top: violations opened; triangles: acknowledgements; green band: what the rule allows.")


def metric_chart(points: pl.DataFrame) -> None:
    """An anomaly rule's metric history: the expected band, the points, those not trained on, the anomalies."""
    fig = go.Figure()
    banded = points.drop_nulls("lower")
    if not banded.is_empty():
        fig.add_trace(go.Scatter(x=banded["at"].to_list(), y=banded["upper"].to_list(), mode="lines",
                                 line={"width": 0}, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=banded["at"].to_list(), y=banded["lower"].to_list(), mode="lines",
                                 line={"width": 0}, fill="tonexty", fillcolor="rgba(45,164,78,0.15)",
                                 name="expected band"))
    trained = points.filter(~pl.col("excluded"))
    fig.add_trace(go.Scatter(x=points["at"].to_list(), y=points["value"].to_list(), mode="lines",
                             line={"color": "#57606a", "width": 1}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=trained["at"].to_list(), y=trained["value"].to_list(), mode="markers",
                             name="trained on", marker={"color": "#57606a", "size": 6}))
    excluded = points.filter(pl.col("excluded"))
    if not excluded.is_empty():
        fig.add_trace(go.Scatter(x=excluded["at"].to_list(), y=excluded["value"].to_list(), mode="markers",
                                 name="excluded from training", text=excluded["reason"].to_list(),
                                 marker={"symbol": "circle-open", "size": 11, "color": "#8250df", "line": {"width": 2}}))
    anomalies = points.filter(pl.col("anomaly").fill_null(False))
    if not anomalies.is_empty():
        fig.add_trace(go.Scatter(x=anomalies["at"].to_list(), y=anomalies["value"].to_list(), mode="markers",
                                 name="anomaly", marker={"symbol": "x", "size": 12, "color": "#cf222e"}))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.12},
                      xaxis={"type": "date", "tickformat": "%b %d"}, yaxis={"rangemode": "tozero"})
    st.plotly_chart(fig, width="stretch")
    st.caption("Green: the band each point was judged against (from the points before it); open purple circles: "
               "points not trained on (violation, bypass window, detection period or marked incident); red crosses: anomalies.")


def exclude_form(user: User, points: pl.DataFrame) -> None:
    """Mark a point "incident, exclude from training" (on-call roles, with a note, audited)."""
    decision = actions.allowed(user, "metric_exclude")
    candidates = points.filter(~pl.col("excluded")).reverse().head(60)
    with st.form("exclude_point"):
        labels = {f"{r['at']:%Y-%m-%d %H:%M} · {r['value']:,.6g}": r["id"] for r in candidates.iter_rows(named=True)}
        chosen = st.selectbox("Point", list(labels), disabled=not decision.allowed or not labels)
        note = st.text_input("Note (incident id, cause)", disabled=not decision.allowed)
        if st.form_submit_button("Incident: exclude from training", disabled=not decision.allowed or not labels):
            ok, _ = data.write(anomaly.exclude_point, user, labels[chosen], note)
            if ok:
                actions.flash("success", f"Point {chosen} is excluded from training.")
                st.rerun()
    actions.refused_caption(decision)


def results_table(rule: dict, history: pl.DataFrame) -> None:
    newest = history.reverse().head(50)
    lines = [wording.verdict_line(rule["check_type"], r["observed_value"], r["failing_rows"], r["fail_level"])
             for r in newest.iter_rows(named=True)]
    shown = newest.with_columns(finding=pl.Series(lines, dtype=pl.Utf8), run=links.run_urls("run_id"))
    st.dataframe(shown.select(list(RESULT_COLUMNS)), hide_index=True, width="stretch", column_config=RESULT_COLUMNS)


user = start("Rule", "A rule's definition, threshold, schedule, recent results and history.")
actions.show_flash()
name = st.query_params.get("name")
if not name:
    st.info("No rule chosen. Hint: open a rule from the Rules, Violations, Runs or Health page.")
    st.page_link("pages/rules.py", label="All rules", icon=":material/rule:")
    st.stop()
try:
    rule = data.load(queries.rule_detail, name)
    suite = data.load(queries.suite_detail, rule["suite"])
except NotFound as exc:
    st.warning(str(exc))
    st.stop()
now = data.minute_now()
history = data.load(queries.rule_results, name, DAYS, now=now)
events = data.load(queries.rule_violations, name, DAYS, now=now)
st.subheader(f"{name} · {rule['severity']} · {rule['suite']}")
if rule["description"]:
    st.caption(rule["description"])
facts(rule, suite, history.row(-1, named=True) if not history.is_empty() else None)
actions.run_now(user, rule["suite"], name, key="rule_run_now")
left, right = st.columns([3, 2])
with left:
    st.markdown(f"**Observed over the last {DAYS} days**")
    if history.is_empty():
        st.info(f"No results in the last {DAYS} days.")
    else:
        chart(rule, history, events, now)
with right:
    st.markdown("**Definition** (as written in the manifest)")
    st.code(yaml.safe_dump(rule["definition"], sort_keys=False, allow_unicode=True), language="yaml")
    open_count = events.filter(pl.col("status") != "resolved").height
    st.page_link("pages/violations.py", label=f"Violations of this rule ({open_count} unresolved in {DAYS} days)",
                 icon=":material/warning:", query_params={"rule": name})
points = data.load(anomaly.metric_history, name)
if not points.is_empty():
    st.markdown("**Metric history** (anomaly detection)")
    metric_chart(points)
    exclude_form(user, points)
st.markdown("**Recent results** (newest first)")
if history.is_empty():
    st.caption("None yet.")
else:
    results_table(rule, history)
