"""Buttons several pages share: Run now (with a link to its run) and the permission gate for every action."""

from __future__ import annotations

import streamlit as st

from console import data
from ops import lifecycle, permissions
from ops.roles import User
from ops.run_requests import run_now as queue_run
from store import rule_changes

FLASH = "dq_flash"  # (kind, text, link) messages that survive the rerun after an action


def allowed(user: User, action: str, **context: object) -> permissions.Decision:
    return permissions.decide(user, action, **context)


def refused_caption(decision: permissions.Decision) -> None:
    if not decision.allowed:
        st.caption(f":material/lock: {decision.reason}")


def flash(kind: str, text: str, request_id: int | None = None) -> None:
    st.session_state.setdefault(FLASH, []).append((kind, text, request_id))


def show_flash() -> None:
    for kind, text, request_id in st.session_state.pop(FLASH, []):
        getattr(st, kind)(text)
        if request_id is not None:
            st.page_link("pages/runs.py", label=f"Follow run request #{request_id} on the Runs page",
                         icon=":material/history:", query_params={"request": str(request_id)})


def run_now(user: User, suite: str, rule_name: str | None = None, *, key: str) -> None:
    """Queue a run of the suite (or one rule); the confirmation links to the run on the Runs page."""
    decision = allowed(user, "run_now", suite=suite, rule=rule_name)
    what = f"rule {rule_name}" if rule_name else f"every rule of {suite}"
    if st.button("Run now", key=key, icon=":material/play_arrow:", disabled=not decision.allowed,
                 help=decision.reason or f"Queue a run of {what} for the scheduler"):
        ok, request_id = data.write(queue_run, user, suite, rule_name, origin="console")
        if ok and request_id is not None:
            flash("success", f"Run request #{request_id} queued for {what}; the scheduler picks it up within "
                             "seconds.", request_id)
            st.rerun()
    refused_caption(decision)


def pending_rule_changes(user: User, rule_name: str | None = None) -> None:
    """Pending changes of sensitive rules, each with Approve and Reject for a data_eng_lead other than its author."""
    for change in data.load(rule_changes.pending, rule_name):
        with st.container(border=True):
            st.markdown(f"**Pending change #{change.id}**: {change.change} `{change.rule_name}` "
                        f"({change.severity} on a {', '.join(change.data_classes)} table), requested by "
                        f"{change.requested_by}: {change.reason}")
            own = user.name.lower() == change.requested_by.lower()
            decision = allowed(user, "rule_change_approve", change_id=change.id)
            if decision.allowed and own:
                decision = permissions.Decision(False, f"you requested change #{change.id} and cannot decide it "
                                                       f"(four eyes). Hint: {rule_changes.HINT}.")
            left, right = st.columns([1, 3])
            note = right.text_input("Reason (to reject)", key=f"rc_note_{change.id}", disabled=not decision.allowed)
            if left.button("Approve", key=f"rc_approve_{change.id}", type="primary", disabled=not decision.allowed,
                           help=decision.reason or None):
                ok, _ = data.write(lifecycle.approve_change, user, change.id)
                if ok:
                    flash("success", f"Change #{change.id} approved: {change.rule_name} is now {change.change}.")
                    st.rerun()
            if left.button("Reject", key=f"rc_reject_{change.id}", disabled=not decision.allowed):
                ok, _ = data.write(lifecycle.reject_change, user, change.id, note)
                if ok:
                    flash("success", f"Change #{change.id} rejected: {change.rule_name} stays as it is.")
                    st.rerun()
            refused_caption(decision)
