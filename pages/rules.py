"""Rules: every rule with its lifecycle status and newest verdict; enable, disable or retire with a reason."""

from __future__ import annotations

import polars as pl
import streamlit as st

from console import actions, data, links
from console.page import start
from ops import permissions
from ops.lifecycle import set_rule_state
from ops.roles import User
from store import queries
from store.rule_changes import RuleChange

LIFECYCLE_ROLES = ("data_eng_lead", "admin")
FLASH = "rules_flash"
STATES = ("active", "disabled", "retired")  # as the status column shows them; "active" means enabled
SHOWN = ["name", "suite", "source", "check_type", "severity", "status", "enabled", "last_status",
         "last_checked_at", "open_violations", "owner", "schedule", "use_sampling", "version", "status_reason"]


def lifecycle(rules: pl.DataFrame, user: User) -> None:
    decision = permissions.decide(user, "rule_disable")
    if not decision.allowed:
        st.caption(f"Changing a rule's state needs one of the roles {', '.join(LIFECYCLE_ROLES)}. {decision.reason}")
        return
    with st.form("lifecycle"):
        a, b = st.columns(2)
        rule = a.selectbox("Rule", rules["name"].to_list(), key="lc_rule")
        state = b.selectbox("New state", STATES, key="lc_state")
        reason = st.text_input("Reason (recorded in the audit log)", key="lc_reason")
        if st.form_submit_button("Apply", key="lc_apply"):
            if not reason.strip():
                st.error("A reason is required. Hint: say why, e.g. 'table retired in DATA-42'.")
            else:
                ok, outcome = data.write(set_rule_state, user, rule, state, reason.strip())
                if ok:
                    st.session_state[FLASH] = (
                        f"{rule} guards a sensitive table: change #{outcome.id} ({state}) waits for a second "
                        f"data_eng_lead." if isinstance(outcome, RuleChange) else f"{rule} is now {state}.")
                    st.rerun()  # redraw the table with the new state; the message survives in FLASH


user = start("Rules", "Rules as loaded from rules/*.yaml, with their lifecycle status and newest verdict.")
if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH))
overview = data.load(queries.rules_overview, now=data.minute_now())
deep_rule = st.query_params.get("rule")
a, b, c = st.columns(3)
suites = a.multiselect("Suite", sorted(overview["suite"].unique().to_list()), key="f_suite")
statuses = b.multiselect("Status", ["active", "disabled", "retired", "removed"], key="f_status")
search = c.text_input("Name contains", value=deep_rule or "", key="f_name")
shown = overview
if suites:
    shown = shown.filter(pl.col("suite").is_in(suites))
if statuses:
    shown = shown.filter(pl.col("status").is_in(statuses))
if search:
    shown = shown.filter(pl.col("name").str.contains(search, literal=True))
st.caption(f"{shown.height} of {overview.height} rule(s); {int(overview['enabled'].sum())} enabled.")
if overview.is_empty():
    st.info("No rules loaded yet. Hint: `python manage.py load_dq_rules rules/`.")
else:
    table, config = links.linked(shown.select(SHOWN), rule="name")
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)
    lifecycle(overview, user)
    actions.pending_rule_changes(user)
    actions.show_flash()
