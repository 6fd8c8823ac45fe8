"""Bypass requests: the failover procedure's request form, approvals and active bypasses."""

from __future__ import annotations

import streamlit as st

import clock
from console import data
from console.page import start
from ops import approvers, gate, permissions
from ops import bypass as bypass_ops
from ops.roles import User
from store import approval_matrix, queries
from store import bypass as bypass_store
from store.bypass import CHECKLIST_FIELDS, MANUAL_FIX, BypassRequest, NewRequest
from store.errors import StoreError

FLASH = "bypass_flash"


def _flash(kind: str, text: str) -> None:
    st.session_state.setdefault(FLASH, []).append((kind, text))


def _show_flash() -> None:
    for kind, text in st.session_state.pop(FLASH, []):
        getattr(st, kind)(text)


def _checklist(request: BypassRequest) -> None:
    st.markdown(f"**Incident ticket:** {request.incident_id} — [{request.incident_url}]({request.incident_url})")
    if request.kind == MANUAL_FIX:
        st.caption(f"Manual fix (failover Option C) recorded by {request.requested_by} at "
                   f"{request.requested_at:%Y-%m-%d %H:%M} UTC. A record only: the DQ gate never honours it.")
    else:
        st.caption(f"Requested by {request.requested_by} at {request.requested_at:%Y-%m-%d %H:%M} UTC; "
                   f"proposed duration {request.duration_hours:g} h")
    if request.closed_at:
        st.markdown(f"**Closed ({request.status})** by {request.closed_by} at {request.closed_at:%Y-%m-%d %H:%M} UTC")
        st.text(request.close_note or "")
    for name, label in CHECKLIST_FIELDS[2:]:
        st.markdown(f"**{label}**")
        st.text(getattr(request, name))
    if request.kind == MANUAL_FIX:
        st.markdown(f"**SQL run by hand** ({request.sql_bytes} bytes, sha256 `{request.sql_sha256}`)")
        st.code(request.sql_text or "", language="sql")
    if request.run_id:
        st.caption(f"Linked run #{request.run_id}; violations {', '.join(f'#{v}' for v in request.violation_ids) or 'none'}")


def _kind_label(request: BypassRequest) -> str:
    return "manual fix: " if request.kind == MANUAL_FIX else ""


# --- request form --------------------------------------------------------------------------


def never_bypassable(matrix: approval_matrix.ApprovalMatrix) -> None:
    """The tables that can never be bypassed, each with its reason, so nobody wonders where theirs went."""
    terms = data.load(queries.suites_list)
    never = [(t["name"], t["table_name"], matrix.forbidden_classes(t["data_classes"] or [])) for t in terms]
    never = [(name, table, classes) for name, table, classes in never if classes]
    if never:
        with st.expander(f"{len(never)} table(s) can never be bypassed", expanded=True, icon=":material/block:"):
            for name, table, classes in never:
                st.markdown(f"- **{table}** (suite {name}): holds {', '.join(classes)}: never bypassable")


def request_form(user: User, matrix: approval_matrix.ApprovalMatrix) -> None:
    suites = bypass_store.bypassable_suites()
    never_bypassable(matrix)
    if not suites:
        st.info("No table can be bypassed: every loaded suite is PII, financial or compliance, or none is loaded.")
        return
    by_name = {s.name: s for s in suites}
    suite_name = st.selectbox(
        "Table", list(by_name), key="bp_suite",
        format_func=lambda n: f"{by_name[n].table_name} (suite {n}, {by_name[n].layer})",
    )
    terms = by_name[suite_name]
    policy = matrix.policy(terms.layer)
    assert policy is not None  # bypassable_suites only offers layers in the matrix
    who = "; ".join(f"{role}: {approvers.people([role], with_admin=False)}" for role in policy.approvers)
    st.caption(f"Approval matrix — {policy.describe()}. Who approves — {who}; an admin "
               f"({approvers.people(['admin'], with_admin=False)}) may stand in for any role.")
    details = bypass_ops.failure_details(suite_name)
    with st.form("bypass_request"):
        incident_id = st.text_input("Incident ticket id *", placeholder="INC-1234")
        incident_url = st.text_input("Incident ticket link *", placeholder="https://jira.example.com/browse/INC-1234")
        failure = st.text_area("DQ failure details * (from the latest failing run)", value=details.text,
                               key=f"bp_details_{suite_name}")
        impact = st.text_area("Business impact *")
        hours = st.number_input(f"Proposed duration in hours * (at most {policy.max_hours:g})",
                                min_value=0.5, value=min(6.0, policy.max_hours), step=0.5)
        assessment = st.text_area("Impact assessment *")
        rollback = st.text_area("Rollback plan *")
        timeline = st.text_area("Fix timeline *")
        alternative = st.text_area("Alternative remediation plan *")
        submitted = st.form_submit_button("Submit bypass request")
    if not submitted:
        return
    new = NewRequest(
        suite=suite_name, incident_id=incident_id, incident_url=incident_url, failure_details=failure,
        business_impact=impact, duration_hours=float(hours), impact_assessment=assessment,
        rollback_plan=rollback, fix_timeline=timeline, alternative_plan=alternative,
        run_id=details.run_id, violation_ids=details.violation_ids,
    )
    try:
        request_id = bypass_ops.request(user, new)
    except StoreError as exc:
        st.error(str(exc))
        return
    _flash("success", f"Bypass request #{request_id} filed; it needs {' + '.join(policy.approvers)}. "
                      f"Ask {approvers.people(list(policy.approvers), {user.name})}.")
    st.rerun()  # every tab redrawn with the new request, on this tab


# --- pending -------------------------------------------------------------------------------


def pending(user: User, matrix: approval_matrix.ApprovalMatrix) -> None:
    requests = bypass_store.list_requests(["pending"])
    if not requests:
        st.info("No request is waiting for approval.")
        return
    for request in requests:
        with st.container(border=True):
            st.subheader(f"#{request.id} {_kind_label(request)}{request.table_name} ({request.layer})")
            policy = matrix.policy(request.layer)
            done = ", ".join(f"{a.approver} ({a.role})" for a in request.approvals) or "none yet"
            st.markdown(f"**Needs:** {' + '.join(policy.approvers) if policy else 'n/a'} — **approved by:** {done}")
            _checklist(request)
            may_approve = permissions.decide(user, "bypass_approve", request_id=request.id)
            may_reject = permissions.decide(user, "bypass_reject", request_id=request.id)
            approve = st.button("Approve", key=f"approve_{request.id}", type="primary",
                                disabled=not may_approve.allowed, help=may_approve.reason or None)
            if not may_approve.allowed:
                st.caption(f":material/lock: {may_approve.reason}")
            reason = st.text_input("Reason for rejecting", key=f"reject_reason_{request.id}",
                                   disabled=not may_reject.allowed)
            reject = st.button("Reject", key=f"reject_{request.id}", disabled=not may_reject.allowed,
                               help=may_reject.reason or None)
            _decide(user, request, approve, reject, reason)


def _decide(user: User, request: BypassRequest, approve: bool, reject: bool, reason: str) -> None:
    if not (approve or reject):
        return
    try:
        if approve:
            after = bypass_ops.approve(user, request.id)
            text = (f"Bypass #{request.id} is ACTIVE until {after.expires_at:%Y-%m-%d %H:%M} UTC."
                    if after.status == "active" else
                    f"Manual fix #{request.id} is recorded (approved); the DQ gate does not honour it."
                    if after.status == "recorded" else f"Approval recorded; bypass #{request.id} needs another approver.")
        else:
            bypass_ops.reject(user, request.id, reason)
            text = f"Bypass #{request.id} rejected."
    except StoreError as exc:
        st.error(str(exc))
        return
    _flash("success", text)
    st.rerun()


# --- active --------------------------------------------------------------------------------


DIALOG = "bypass_dialog"  # (kind, request id) of the open confirmation, kept across reruns


def _open(kind: str, request_id: int) -> None:
    st.session_state[DIALOG] = (kind, request_id)


def _close() -> None:
    st.session_state.pop(DIALOG, None)


@st.dialog("Restore DQ gate", on_dismiss=_close)
def restore_dialog(user: User, request: BypassRequest) -> None:
    st.write(f"End bypass #{request.id} on {request.table_name} now and re-run suite {request.suite}.")
    # A form sends the note with the click, so a fast click never races the text's commit.
    with st.form(f"restore_form_{request.id}", border=False):
        note = st.text_area("Incident note *", key=f"restore_note_{request.id}")
        confirmed = st.form_submit_button("Restore DQ gate now", type="primary")
    if confirmed:
        try:
            outcome = bypass_ops.restore(user, request.id, note)
        except StoreError as exc:
            st.error(str(exc))
            return
        _close()
        _flash("success" if outcome.passed else "warning", "\n\n".join(outcome.lines))
        st.rerun()
    if st.button("Cancel", key=f"restore_cancel_{request.id}"):
        _close()
        st.rerun()


@st.dialog("Rollback bypass", on_dismiss=_close)
def rollback_dialog(user: User, request: BypassRequest) -> None:
    st.write(f"Disable bypass #{request.id} on {request.table_name} immediately and notify the stakeholders.")
    with st.form(f"rollback_form_{request.id}", border=False):
        reason = st.text_area("What went wrong *", key=f"rollback_reason_{request.id}")
        confirmed = st.form_submit_button("Roll back now", type="primary")
    if confirmed:
        try:
            bypass_ops.rollback(user, request.id, reason)
        except StoreError as exc:
            st.error(str(exc))
            return
        _close()
        _flash("warning", f"Bypass #{request.id} rolled back: the DQ gate is enforced again; stakeholders notified.")
        st.rerun()
    if st.button("Cancel", key=f"rollback_cancel_{request.id}"):
        _close()
        st.rerun()


def active(user: User) -> None:
    now = clock.utcnow()
    requests = bypass_store.list_requests(["active"])
    if not requests:
        st.info("No bypass is active: every DQ gate is enforced.")
        _close()
        return
    for request in requests:
        with st.container(border=True):
            left = request.time_left(now)
            st.subheader(f"#{request.id} {request.table_name}: {gate.hours_minutes(left)} left")
            st.caption(f"Expires {request.expires_at:%Y-%m-%d %H:%M} UTC; approved by {', '.join(request.approvers)}; "
                       f"incident {request.incident_id}")
            honoured = bypass_store.honoured_bypass(request.suite, now)
            if honoured.request is None or honoured.request.id != request.id:
                st.error("The gate does NOT honour this bypass: " + "; ".join(honoured.problems))
            silenced = bypass_store.silenced_alerts(request)
            if silenced:
                st.markdown(f"**Alerts silenced during this bypass ({len(silenced)}):**")
                st.dataframe(silenced, hide_index=True)
            restore_col, rollback_col = st.columns(2)
            restore_col.button("Restore DQ gate", key=f"restore_{request.id}", on_click=_open, args=("restore", request.id))
            rollback_col.button("Rollback", key=f"rollback_{request.id}", on_click=_open, args=("rollback", request.id))
    _open_dialog(user, {r.id: r for r in requests})


def _open_dialog(user: User, requests: dict[int, BypassRequest]) -> None:
    kind, request_id = st.session_state.get(DIALOG, (None, None))
    request = requests.get(request_id)
    if request is None:  # closed meanwhile (expired, or by someone else)
        _close()
        return
    (restore_dialog if kind == "restore" else rollback_dialog)(user, request)


# --- history -------------------------------------------------------------------------------


def history() -> None:
    requests = bypass_store.list_requests()
    if not requests:
        st.info("No bypass request yet.")
        return
    labels = {r.id: f"#{r.id} {_kind_label(r)}{r.table_name} — {r.status} ({r.incident_id})" for r in requests}
    request_id = st.selectbox("Request to export", list(labels), format_func=labels.__getitem__, key="bp_history")
    request, entries = bypass_store.history(request_id)
    _checklist(request)
    st.dataframe(
        [{"at (UTC)": e.at, "actor": e.actor, "action": e.action, "details": str(e.details)} for e in entries],
        hide_index=True,
    )
    left, right = st.columns(2)
    left.download_button("Export history (Markdown)", bypass_ops.export_history(request_id, "markdown"),
                         file_name=f"bypass-{request_id}.md", mime="text/markdown", key="bp_export_md")
    right.download_button("Export history (JSON)", bypass_ops.export_history(request_id, "json"),
                          file_name=f"bypass-{request_id}.json", mime="application/json", key="bp_export_json")


# --- page ----------------------------------------------------------------------------------

user = start(
    "Bypass requests",
    "The failover procedure (docs/gate.md): request with the checklist, approval per the matrix, "
    "automatic expiry, restore. PII, financial and compliance tables are never bypassed.",
)
try:
    matrix = approval_matrix.load()
except approval_matrix.MatrixError as exc:
    st.error(str(exc))
    st.stop()
_show_flash()
# Keyed: after an action and its rerun the page stays on the tab it was on.
tab_request, tab_pending, tab_active, tab_history = st.tabs(
    ["Request", "Pending approval", "Active", "History"], key="bp_tab", on_change="rerun")
with tab_request:
    request_form(user, matrix)
with tab_pending:
    pending(user, matrix)
with tab_active:
    active(user)
with tab_history:
    history()
