"""Violations: triage in one place. Select rows to acknowledge or snooze; one selected row (or a deep
link) opens its detail with the failing rows, history, Acknowledge, Snooze, Resolve and Run now.

Deep links: `?rule=NAME` pre-filters by rule, `?violation=ID` opens one violation (alerts link here).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

import clock
from console import actions, charts, data, links, wording
from console.page import fmt_time, start
from ops import violations as violation_actions
from ops.roles import User
from store import queries
from store.errors import NotFound
from store.queries import SEVERITIES, ViolationFilter

STATUSES = ("open", "acknowledged", "resolved")
SINCE = {"Any time": None, "Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
ACKED = {"Any": None, "Not acknowledged": False, "Acknowledged": True}
SNOOZE = {"1 hour": 1, "4 hours": 4, "8 hours": 8, "24 hours": 24, "3 days": 72, "7 days": 168}
GENERATION = "violations_table_generation"
SELECTED_LINK = "violations_selected_link"  # a new table key after an action clears the row selection
# Pixel widths: at 1440x900 the columns on-call needs fit without scrolling sideways.
TABLE_COLUMNS = {
    "severity": st.column_config.TextColumn("Severity", width=78),
    "state": st.column_config.TextColumn("Status", width=125, help="open, acked by whom, or resolved"),
    "rule": st.column_config.LinkColumn("Rule", display_text=links.RULE_TEXT, width=205),
    "table": st.column_config.LinkColumn("Table", display_text=links.TABLE_TEXT, width=120),
    "finding": st.column_config.TextColumn("Observed; allowed", width=320),
    "detected_at": st.column_config.DatetimeColumn("Detected", format="MM-DD HH:mm", width=95,
                                                   help="UTC"),
    "snoozed_until": st.column_config.DatetimeColumn("Snoozed until", format="MM-DD HH:mm", width=105),
    "occurrences": st.column_config.NumberColumn("Seen", format="%d", width=60),
    "source": st.column_config.TextColumn("Database", width=100),
    "id": st.column_config.NumberColumn("#", format="%d", width=60),
}


def _deep_link(name: str) -> str | None:
    value = st.query_params.get(name)
    return value or None


def read_filter(options: queries.FilterOptions) -> ViolationFilter:
    deep_rule = _deep_link("rule")
    rules = sorted({*options.rules, deep_rule} - {None})
    with st.expander("Filters", expanded=False):
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


def findings(listed: pl.DataFrame) -> list[str]:
    return [wording.verdict_line(r["check_type"], r["observed_value"], r["failing_rows"], r["threshold"])
            for r in listed.select("check_type", "observed_value", "failing_rows", "threshold").iter_rows(named=True)]


def table(listed: pl.DataFrame) -> list[int]:
    """The violations table with row selection; returns the ids of the selected rows."""
    state = (pl.when(pl.col("status") == "acknowledged")
             .then(pl.concat_str(pl.lit("acked by "), pl.col("acknowledged_by").fill_null("?")))
             .otherwise(pl.col("status")))
    shown = listed.with_columns(rule=links.rule_urls("rule_name"), table=links.table_urls("suite"),
                                finding=pl.Series(findings(listed), dtype=pl.Utf8), state=state)
    generation = st.session_state.get(GENERATION, 0)
    event = st.dataframe(shown.select(list(TABLE_COLUMNS)), hide_index=True, width="stretch",
                         column_config=TABLE_COLUMNS, on_select="rerun", selection_mode="multi-row",
                         key=f"table_{generation}", height=min(38 + 35 * max(len(shown), 1), 460))
    rows = event.selection.rows if event is not None else []  # type: ignore[union-attr]
    return [int(listed["id"][i]) for i in rows if i < len(listed)]


def _done() -> None:
    """After an action: fresh reads, a cleared selection, and the message shown after the rerun."""
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.rerun()


def _explain_skipped(chosen: list[int], changed: list[int], listed: pl.DataFrame, verb: str) -> str:
    skipped = listed.filter(pl.col("id").is_in(sorted(set(chosen) - set(changed))))
    reasons = []
    for r in skipped.iter_rows(named=True):
        if r["status"] == "acknowledged":
            reasons.append(f"#{r['id']} was already acknowledged by {r['acknowledged_by']} at {fmt_time(r['acknowledged_at'])}")
        else:
            reasons.append(f"#{r['id']} is {r['status']}")
    return f" Not {verb}: " + "; ".join(reasons) + "." if reasons else ""


def acknowledge(user: User, chosen: list[int], listed: pl.DataFrame, note: str) -> None:
    ok, changed = data.write(violation_actions.acknowledge, user, chosen, note)
    if ok and changed is not None:
        why = _explain_skipped(chosen, changed, listed, "acknowledged")
        kind = "success" if changed else "warning"
        text = (f"Acknowledged {', '.join(f'#{i}' for i in changed)} as {user.name}." if changed
                else "Nothing acknowledged.")
        actions.flash(kind, text + why)
        _done()


def snooze(user: User, chosen: list[int], listed: pl.DataFrame, hours: int, note: str) -> None:
    until = clock.utcnow() + timedelta(hours=hours)
    ok, changed = data.write(violation_actions.snooze, user, chosen, until, note)
    if ok and changed is not None:
        why = _explain_skipped(chosen, changed, listed.filter(pl.col("status") == "resolved"), "snoozed")
        actions.flash("success" if changed else "warning",
                      f"Alerts for {', '.join(f'#{i}' for i in changed) or 'nothing'} snoozed until {fmt_time(until)}." + why)
        _done()


def action_bar(user: User, chosen: list[int], listed: pl.DataFrame, where: str) -> None:
    """Acknowledge and Snooze for `chosen`, with one note; disabled with the reason when not allowed."""
    ack = actions.allowed(user, "acknowledge", violation_ids=chosen)
    snz = actions.allowed(user, "snooze", violation_ids=chosen)
    count = f" ({len(chosen)})" if where == "bulk" else ""
    note_col, ack_col, period_col, snooze_col = st.columns([4, 2, 2, 2], vertical_alignment="bottom")
    note = note_col.text_input("Note", key=f"{where}_note", placeholder="e.g. upstream load re-running, ticket DATA-123")
    if ack_col.button(f"Acknowledge{count}", key=f"{where}_ack", type="primary", width="stretch",
                      disabled=not chosen or not ack.allowed, help=ack.reason or None):
        acknowledge(user, chosen, listed, note)
    period = period_col.selectbox("Snooze alerts for", list(SNOOZE), index=1, key=f"{where}_period")
    if snooze_col.button(f"Snooze{count}", key=f"{where}_snooze", width="stretch",
                         disabled=not chosen or not snz.allowed, help=snz.reason or None):
        snooze(user, chosen, listed, SNOOZE[period], note)
    actions.refused_caption(ack)


def history_chart(rule_name: str) -> None:
    history = data.load(queries.rule_history, rule_name, 30, now=data.minute_now())
    if history.is_empty():
        st.info("No results for this rule in the last 30 days.")
        return
    now = data.minute_now()
    charts.show(charts.verdicts_over_time(history["finished_at"], history["status"].to_list(),
                                          history["run_id"].to_list(), now - timedelta(days=30), now), height=220)


def resolve_form(v: dict, user: User) -> None:
    if v["status"] == "resolved":
        st.caption(f"Resolved {fmt_time(v['resolved_at'])} by {v['resolved_by']} ({v['resolution']})"
                   + (f": {v['resolution_note']}" if v["resolution_note"] else ""))
        return
    decision = actions.allowed(user, "resolve", violation_ids=[v["id"]])
    with st.form("resolve", border=True):
        left, right = st.columns([1, 2])
        reason = left.selectbox("Resolve by hand", violation_actions.RESOLUTIONS, key="resolve_reason",
                                format_func=lambda r: r.replace("_", " "))
        note = right.text_input("Why", key="resolve_note")
        if st.form_submit_button("Resolve", key="resolve_button", disabled=not decision.allowed) and data.write(
            violation_actions.resolve, user, v["id"], reason, note
        )[0]:
            actions.flash("success", f"Resolved #{v['id']} ({reason.replace('_', ' ')}).")
            _done()
    actions.refused_caption(decision)


def detail(violation_id: int, user: User) -> None:
    try:
        v = data.load(queries.violation, violation_id).row(0, named=True)
    except NotFound as exc:
        st.warning(str(exc))
        return
    st.subheader(f"#{v['id']} {v['severity']} · {v['rule_name']} · {v['status']}")
    links_row = st.columns([2, 2, 3])
    links_row[0].page_link(links.RULE_PAGE, label=f"Rule {v['rule_name']}", icon=":material/rule:",
                           query_params={"name": v["rule_name"]})
    links_row[1].page_link(links.TABLE_PAGE, label=f"Table {v['suite']}", icon=":material/table:",
                           query_params={"suite": v["suite"]})
    links_row[2].caption(f"Database {v['source']} · detected {fmt_time(v['detected_at'])} · last seen "
                         f"{fmt_time(v['last_seen_at'])} · seen {v['occurrences']} time(s)"
                         + (f" · alerts snoozed until {fmt_time(v['snoozed_until'])}" if v["snoozed_until"] else ""))
    a, b, c = st.columns([2, 2, 1])
    a.metric("Observed", wording.observed(v["check_type"], v["observed_value"], v["failing_rows"]))
    b.metric("Allowed", wording.allowed(v["threshold"], v["check_type"]))
    c.metric("Status", v["status"])
    if v["message"]:
        st.markdown(f"> {v['message']}")
    if v["acknowledged_by"]:
        st.caption(f"Acknowledged by {v['acknowledged_by']} at {fmt_time(v['acknowledged_at'])}"
                   + (f": {v['ack_note']}" if v["ack_note"] else ""))
    if v["status"] != "resolved":
        action_bar(user, [v["id"]], data.load(queries.violation, violation_id), "detail")
    resolve_form(v, user)
    actions.run_now(user, v["suite"], v["rule_name"], key="run_now")
    st.markdown("**Failing-row sample** (PII masked)")
    sample = data.load(queries.failing_rows, violation_id)
    if sample.is_empty():
        st.caption("No sample kept.")
    else:
        st.dataframe(sample, hide_index=True)
    st.markdown("**Pass/fail history of the rule (30 days)**")
    history_chart(v["rule_name"])


def chosen_detail(selected: list[int]) -> int | None:
    """One selected row opens its detail (and the address bar links to it); else the deep link's."""
    if len(selected) == 1:
        if st.query_params.get("violation") != str(selected[0]):
            st.query_params["violation"] = str(selected[0])
        st.session_state[SELECTED_LINK] = str(selected[0])  # the address now links here; not an alert's link
        return selected[0]
    deep = _deep_link("violation")
    return int(deep) if deep and deep.isdigit() else None


user = start("Violations", "Select rows to acknowledge or snooze them; select one to open it. "
                           "Open ones first, the most severe on top.")
actions.show_flash()
wanted = read_filter(data.load(queries.filter_options))
listed = data.load(queries.violations_list, wanted)
total = data.load(queries.violations_count, wanted)
st.caption(f"{total:,} violation(s) match; showing {len(listed):,}.")
deep = _deep_link("violation")
if deep and deep.isdigit() and st.session_state.get(SELECTED_LINK) != deep:
    detail(int(deep), user)  # an alert's link: the violation first, the list below
    st.divider()
    selected = table(listed)
    action_bar(user, selected, listed, "bulk")
else:
    selected = table(listed)
    action_bar(user, selected, listed, "bulk")
    chosen_id = chosen_detail(selected)
    if chosen_id is not None:
        st.divider()
        detail(chosen_id, user)
