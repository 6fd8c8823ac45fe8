"""Alerts: the outbox as on-call sees it: failed and retrying deliveries, escalations, suppressions, history."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from console import actions, data, links
from console.page import start
from ops import alert_retry
from store import alerts as store_alerts
from store import kpis, queries
from store.kpis import Window

SINCE = {"Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30}


def alert_table(rows: list[dict]) -> None:
    """Alerts with their rule, table and violation linked to their pages."""
    frame, config = links.linked(pl.DataFrame(rows, infer_schema_length=None), violation="violation_id")
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)

user = start("Alerts", "Every alert is written here first, then sent. Channel `store` means it is shown only here.")
period = st.selectbox("Period", list(SINCE), index=1, key="a_since")
since = data.minute_now() - timedelta(days=SINCE[period])

counts = data.load(queries.alert_status_counts, since)
cols = st.columns(5)
cols[0].metric("Sent", counts.get("sent", 0))
cols[1].metric("Waiting", counts.get("pending", 0) + counts.get("sending", 0))
cols[2].metric("Failed", counts.get("failed", 0))
cols[3].metric("Suppressed", counts.get("suppressed", 0))
response = data.load(kpis.kpi, "alert_response", Window.last(24 * SINCE[period]))
cols[4].metric(response.label, response.shown(), help=f"Target {response.target} (as on the Health page): "
               f"{response.definition}.")

st.subheader("Failed and retrying deliveries")
failed = data.load(store_alerts.failed_table)
if failed:
    alert_table(failed)
    may_retry = actions.allowed(user, "alert_retry")
    if st.button("Retry failed alerts now", key="a_retry", disabled=not may_retry.allowed, help=may_retry.reason or None):
        ok, count = data.write(alert_retry.retry_failed, user)
        if ok:
            st.success(f"{count} alert(s) queued again; the scheduler sends them within seconds.")
else:
    st.success("Every alert was delivered or is waiting for its batch.")

st.subheader("Escalations")
escalations = data.load(store_alerts.alerts_table, since, (), ("escalation",))
if escalations:
    alert_table(escalations)
else:
    st.info("No violation had to be escalated in this period.")

st.subheader("All alerts")
a, b = st.columns(2)
statuses = a.multiselect("Status", store_alerts.STATUSES, key="a_status")
kinds = b.multiselect("Kind", store_alerts.KINDS, key="a_kind")  # every kind the outbox writes
everything = data.load(store_alerts.alerts_table, since, tuple(statuses), tuple(kinds))
if everything:
    alert_table(everything)
else:
    st.info("No alert matches.")
