"""Table: one suite as on-call needs it: its rules with their last verdicts, a health score, the open
violations, the bypass state, layer and data classes, and Run now for the whole suite.
Address: `table?suite=NAME` (every page links here)."""

from __future__ import annotations

import polars as pl
import streamlit as st

import settings
from console import actions, data, links, wording
from console.page import fmt_time, start
from ops import cron
from store import bypass as bypass_store
from store import queries
from store.errors import NotFound
from store.queries import ViolationFilter

RULE_COLUMNS = {
    "rule": st.column_config.LinkColumn("Rule", display_text=links.RULE_TEXT, width=230),
    "severity": st.column_config.TextColumn("Severity", width=80),
    "last_status": st.column_config.TextColumn("Last verdict", width=95),
    "finding": st.column_config.TextColumn("Observed; allowed", width=320),
    "last_checked_at": st.column_config.DatetimeColumn("Checked (UTC)", format="MM-DD HH:mm", width=110),
    "status": st.column_config.TextColumn("Lifecycle", width=80),
    "check_type": st.column_config.TextColumn("Check", width=100),
}
VIOLATION_COLUMNS = {
    "open": st.column_config.LinkColumn("#", display_text=links.VIOLATION_TEXT, width=55),
    "severity": st.column_config.TextColumn("Severity", width=80),
    "status": st.column_config.TextColumn("Status", width=105),
    "rule_name": st.column_config.TextColumn("Rule", width=220),
    "finding": st.column_config.TextColumn("Observed; allowed", width=300),
    "detected_at": st.column_config.DatetimeColumn("Detected (UTC)", format="MM-DD HH:mm", width=110),
    "acknowledged_by": st.column_config.TextColumn("Acknowledged by", width=160),
}


def bypass_state(suite: dict) -> tuple[str, str]:
    """(short state, sentence) of the suite's gate: active bypass, never bypassable, or enforced."""
    honoured = data.load(bypass_store.honoured_bypass, suite["name"], data.minute_now())
    if honoured.request is not None:
        r = honoured.request
        return "bypassed", (f"Bypass #{r.id} is active until {fmt_time(r.expires_at)} (incident {r.incident_id}, "
                            f"approved by {', '.join(r.approvers)}): the gate lets failures through.")
    if honoured.never_allowed:
        classes = ", ".join(suite["data_classes"] or [])
        return "never", f"Holds {classes}: never bypassable (failover runbook); the gate is always enforced."
    return "enforced", "No bypass: the DQ gate is enforced."


def next_due(suite: dict) -> str:
    if not suite["schedule"]:
        return "no suite schedule (rules may have their own)"
    timezone = (suite.get("definition") or {}).get("timezone") or str(settings.get("DQ_TIMEZONE"))
    try:
        return f"`{suite['schedule']}` ({timezone}), next due {fmt_time(cron.next_tick(suite['schedule'], timezone, data.minute_now()))}"
    except cron.CronError as exc:
        return f"invalid schedule: {exc}"


def findings(frame: pl.DataFrame) -> list[str]:
    return ["—" if r["last_status"] is None
            else wording.verdict_line(r["check_type"], r["observed_value"], r["failing_rows"], r["fail_level"])
            for r in frame.iter_rows(named=True)]


user = start("Table", "A table's rules, health, open violations and bypass state.")
actions.show_flash()
name = st.query_params.get("suite")
if not name:
    st.info("No table chosen. Hint: open a table from the Rules, Violations, Runs or Health page.")
    st.page_link("pages/rules.py", label="All rules and their tables", icon=":material/rule:")
    st.stop()
try:
    suite = data.load(queries.suite_detail, name)
except NotFound as exc:
    st.warning(str(exc))
    st.stop()
now = data.minute_now()
rules = data.load(queries.suite_rules, name, now=now)
open_violations = data.load(queries.violations_list, ViolationFilter(suites=(name,), limit=200))
state, sentence = bypass_state(suite)
score = queries.health_score(rules)
st.subheader(f"{suite['table_name']} · suite {name}")
classes = ", ".join(suite["data_classes"] or []) or "none"
st.caption(f"Database **{suite['source']}** · layer **{suite['layer']}** · data classes **{classes}** · owner "
           f"{suite['owner'] or '—'} · schedule {next_due(suite)}")
a, b, c, d = st.columns(4)
a.metric("Health score", "no data" if score is None else f"{score:.0f}%",
         help="Severity-weighted share of enabled rules whose newest verdict (7 days) passed or warned.")
enabled = int(rules["enabled"].sum()) if not rules.is_empty() else 0
b.metric("Rules enabled", f"{enabled} of {rules.height}")
c.metric("Unresolved violations", f"{open_violations.height}")
d.metric("DQ gate", {"bypassed": "BYPASSED", "never": "always on", "enforced": "enforced"}[state],
         help="always on: the table holds pii, financial or compliance data and can never be bypassed")
(st.warning if state == "bypassed" else st.info)(sentence)
actions.run_now(user, name, None, key="table_run_now")
st.markdown("**Rules and their last verdicts** (failures and errors first)")
if rules.is_empty():
    st.caption("No rules loaded for this table.")
else:
    shown = rules.with_columns(rule=links.rule_urls("name"), finding=pl.Series(findings(rules), dtype=pl.Utf8),
                               last_status=pl.col("last_status").fill_null("not run"))
    st.dataframe(shown.select(list(RULE_COLUMNS)), hide_index=True, width="stretch", column_config=RULE_COLUMNS)
st.markdown("**Unresolved violations**")
if open_violations.is_empty():
    st.caption("None: every rule of this table passes or is acknowledged and resolved.")
else:
    lines = [wording.verdict_line(r["check_type"], r["observed_value"], r["failing_rows"], r["threshold"])
             for r in open_violations.iter_rows(named=True)]
    shown = open_violations.with_columns(open=links.violation_urls("id"), finding=pl.Series(lines, dtype=pl.Utf8),
                                         acknowledged_by=pl.col("acknowledged_by").fill_null(""))
    st.dataframe(shown.select(list(VIOLATION_COLUMNS)), hide_index=True, width="stretch",
                 column_config=VIOLATION_COLUMNS)
