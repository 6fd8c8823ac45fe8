"""Runs: recent suite runs (failures and errors first), one run's per-rule results, Run now for any
table, and the run requests waiting for the scheduler.

Deep links: `?run=ID` opens a run, `?request=ID` follows a run request (Run now links here).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from console import actions, data, links, wording
from console.page import fmt_time, start
from ops.roles import User
from ops.run_requests import request_status
from store import queries
from store.errors import NotFound
from store.queries import RunFilter

STATUSES = ("RUNNING", "PASSED", "WARNED", "FAILED", "ERROR", "ABORTED")
SINCE = {"Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Any time": None}
RUN_RANK = {"ERROR": 0, "FAILED": 1, "ABORTED": 2, "RUNNING": 3, "WARNED": 4, "PASSED": 5}
RESULT_RANK = {"ERROR": 0, "FAILED": 1, "WARNED": 2, "NO_HISTORY": 3, "SKIPPED": 4, "PASSED": 5}
RUN_COLUMNS = {  # pixel widths: the key columns fit at 1440x900
    "status": st.column_config.TextColumn("Status", width=80),
    "table": st.column_config.LinkColumn("Table", display_text=links.TABLE_TEXT, width=150),
    "started_at": st.column_config.DatetimeColumn("Started (UTC)", format="MM-DD HH:mm:ss", width=120),
    "took": st.column_config.TextColumn("Took", width=70),
    "rules": st.column_config.TextColumn("Failed/error/all", width=115, help="rules FAILED / ERROR / in the run"),
    "trigger": st.column_config.TextColumn("Trigger", width=85),
    "requested_by": st.column_config.TextColumn("By", width=110),
    "run": st.column_config.LinkColumn("Run", display_text=links.RUN_TEXT, width=60),
    "error": st.column_config.TextColumn("Error", width=220),
}
RESULT_COLUMNS = {
    "status": st.column_config.TextColumn("Verdict", width=80),
    "rule": st.column_config.LinkColumn("Rule", display_text=links.RULE_TEXT, width=240),
    "severity": st.column_config.TextColumn("Severity", width=80),
    "finding": st.column_config.TextColumn("Observed; allowed", width=320),
    "took": st.column_config.TextColumn("Took", width=65),
    "message": st.column_config.TextColumn("Message", width="large"),
}


def runs_table(listed: pl.DataFrame) -> list[int]:
    ordered = listed.sort(pl.col("status").replace_strict(RUN_RANK, default=9, return_dtype=pl.Int64),
                          pl.col("started_at"), descending=[False, True])
    shown = ordered.with_columns(
        table=links.table_urls("suite"), run=links.run_urls("id"),
        took=pl.Series([wording.duration(None if ms is None else ms / 1000) for ms in ordered["duration_ms"]],
                       dtype=pl.Utf8),
        rules=pl.format("{} / {} / {}", "rules_failed", "rules_error", "rules_total"),
        error=pl.col("error").fill_null(""), requested_by=pl.col("requested_by").fill_null(pl.col("worker")).fill_null(""),
    )
    event = st.dataframe(shown.select(list(RUN_COLUMNS)), hide_index=True, width="stretch", column_config=RUN_COLUMNS,
                         on_select="rerun", selection_mode="single-row", key="runs_table",
                         height=min(38 + 35 * max(len(shown), 1), 420))
    rows = event.selection.rows if event is not None else []  # type: ignore[union-attr]
    return [int(ordered["id"][i]) for i in rows if i < len(ordered)]


def run_detail(run_id: int) -> None:
    found = data.load(queries.runs_list, RunFilter(run_id=run_id, limit=1))
    if found.is_empty():
        st.warning(f"Run #{run_id} does not exist. Hint: it may have been archived by cleanup.")
        return
    run = found.row(0, named=True)
    st.subheader(f"Run #{run_id} · {run['suite']} · {run['status']}")
    st.page_link(links.TABLE_PAGE, label=f"Table page of {run['suite']}", icon=":material/table:",
                 query_params={"suite": run["suite"]})
    took = wording.duration(None if run["duration_ms"] is None else run["duration_ms"] / 1000)
    st.caption(f"{run['trigger']} run by {run['requested_by'] or run['worker'] or '—'}, started {fmt_time(run['started_at'])}, "
               f"took {took}, read {run['rows_read'] or 0:,} rows")
    if run["error"]:
        st.warning(run["error"])
    results = data.load(queries.run_results, run_id)
    if results.is_empty():
        st.caption("No per-rule results recorded.")
        return
    ordered = results.sort(pl.col("status").replace_strict(RESULT_RANK, default=9, return_dtype=pl.Int64), "rule_name")
    check_types = data.load(queries.rules_list).select("name", "check_type")
    ordered = ordered.join(check_types, left_on="rule_name", right_on="name", how="left")
    lines = [wording.verdict_line(r["check_type"] or "", r["observed_value"], r["failing_rows"], r["fail_level"])
             for r in ordered.iter_rows(named=True)]
    shown = ordered.with_columns(
        rule=links.rule_urls("rule_name"), finding=pl.Series(lines, dtype=pl.Utf8),
        took=pl.Series([wording.duration(None if ms is None else ms / 1000) for ms in ordered["duration_ms"]],
                       dtype=pl.Utf8),
    )
    st.dataframe(shown.select(list(RESULT_COLUMNS)), hide_index=True, width="stretch", column_config=RESULT_COLUMNS)


def followed_request(request_id: int) -> None:
    """Where a Run now went: pending, claimed, or done with a link to its run."""
    try:
        request = data.load(request_status, request_id)
    except NotFound as exc:
        st.warning(str(exc))
        return
    rows = data.load(queries.recent_run_requests, 200).filter(pl.col("id") == request_id)
    run_id = rows["run_id"][0] if not rows.is_empty() else None
    what = f"rule {request.rule_name}" if request.rule_name else f"suite {request.suite}"
    text = f"Run request #{request_id} for {what} by {request.requested_by}: **{request.status}**"
    if run_id is not None:
        st.success(text)
        st.page_link("pages/runs.py", label=f"Open run #{run_id}", icon=":material/history:",
                     query_params={"run": str(run_id)})
    else:
        st.info(text + " (the page refreshes when you rerun it; the scheduler picks requests up within seconds).")


def run_now_any(user: User, suites: tuple[str, ...]) -> None:
    with st.expander("Run now: check any table, green or red", expanded=False):
        left, right = st.columns([2, 1], vertical_alignment="bottom")
        suite = left.selectbox("Table (suite)", suites, key="run_suite", index=None, placeholder="choose a table")
        with right:
            if suite:
                actions.run_now(user, suite, None, key="runs_run_now")


user = start("Runs", "Every suite run (schedule, manual, run request, gate); failures and errors first.")
actions.show_flash()
if (request := st.query_params.get("request")) and request.isdigit():
    followed_request(int(request))
options = data.load(queries.filter_options)
run_now_any(user, options.suites)
a, b, c = st.columns(3)
suites = a.multiselect("Suite", options.suites, key="f_suite")
statuses = b.multiselect("Status", STATUSES, key="f_status")
since = c.selectbox("Started", list(SINCE), key="f_since")
days = SINCE[since]
wanted = RunFilter(suites=tuple(suites), statuses=tuple(statuses),
                   started_since=None if days is None else data.minute_now() - timedelta(days=days))
listed = data.load(queries.runs_list, wanted)
st.caption(f"Showing the newest {len(listed):,} run(s); select one for its per-rule results.")
selected = runs_table(listed)
deep = st.query_params.get("run")
chosen = selected[0] if selected else (int(deep) if deep and deep.isdigit() else None)
if chosen is not None:
    if selected and st.query_params.get("run") != str(chosen):
        st.query_params["run"] = str(chosen)
    run_detail(chosen)
st.subheader("Run requests")
requests = data.load(queries.recent_run_requests)
pending = requests.filter(requests["status"] == "pending").height
st.caption(f"{pending} pending (from the CLI's --async, the console's Run now, the gate and restores).")
if requests.is_empty():
    st.info("No run requests yet.")
else:
    st.dataframe(requests.with_columns(run=links.run_urls("run_id")).select(
        "id", "status", "suite", "rule_name", "requested_by", "requested_at", "origin", "run", "error"),
        hide_index=True, width="stretch",
        column_config={"run": st.column_config.LinkColumn("Run", display_text=links.RUN_TEXT)})
