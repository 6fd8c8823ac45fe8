"""Runs: recent suite runs with their per-rule results, and the run requests waiting for the scheduler."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from console import data
from console.page import fmt_time, start
from store import queries
from store.queries import RunFilter

STATUSES = ("RUNNING", "PASSED", "WARNED", "FAILED", "ERROR", "ABORTED")
SINCE = {"Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Any time": None}

start("Runs", "Every suite run (schedule, manual, run request, gate) newest first.")
options = data.load(queries.filter_options)
a, b, c = st.columns(3)
suites = a.multiselect("Suite", options.suites, key="f_suite")
statuses = b.multiselect("Status", STATUSES, key="f_status")
since = c.selectbox("Started", list(SINCE), key="f_since")
days = SINCE[since]
wanted = RunFilter(suites=tuple(suites), statuses=tuple(statuses),
                   started_since=None if days is None else data.minute_now() - timedelta(days=days))
listed = data.load(queries.runs_list, wanted)
st.caption(f"Showing the newest {len(listed):,} run(s).")
st.dataframe(listed, hide_index=True, width="stretch")
labels = {r["id"]: f"#{r['id']} {r['suite']} {r['status']} {fmt_time(r['started_at'])}"
          for r in listed.iter_rows(named=True)}
chosen = st.selectbox("Results of run", list(labels), index=None, format_func=labels.get, key="run",
                      placeholder="pick a run")
if chosen is not None:
    st.dataframe(data.load(queries.run_results, chosen), hide_index=True, width="stretch")
st.subheader("Run requests")
requests = data.load(queries.recent_run_requests)
pending = requests.filter(requests["status"] == "pending").height
st.caption(f"{pending} pending (from the CLI's --async, the console's Run now, the gate and restores).")
if requests.is_empty():
    st.info("No run requests yet.")
else:
    st.dataframe(requests, hide_index=True, width="stretch")
