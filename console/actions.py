"""Buttons several pages share: Run now (with a link to its run) and the permission gate for every action."""

from __future__ import annotations

import streamlit as st

from console import data
from ops import permissions
from ops.roles import User
from ops.run_requests import run_now as queue_run

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
