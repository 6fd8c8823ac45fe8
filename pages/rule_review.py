"""Rule review: the runbook's weekly review, with the report to download as JSON or CSV."""

from __future__ import annotations

import streamlit as st

from console import data, links
from console.page import fmt_time, start
from store import review

TITLES = {
    "failure_7d": ("Failure rate per rule, last 7 days", "Rules that failed at least once this week."),
    "failure_30d": ("Failure rate per rule, last 30 days", "Every rule that ran in the last 30 days."),
    "coverage_by_source": ("Coverage per database", "Enabled rules and covered tables per source."),
    "coverage_by_layer": ("Coverage per layer", "Enabled rules and covered tables per bronze/silver/gold."),
    "tables_without_rules": ("Tables with no enabled rules", "Suites whose rules are all disabled or retired."),
    "noisy_rules": ("Noisy rules (alert fatigue), last 7 days", "Violations opened and alerts sent per rule."),
    "never_failing": ("Rules that never failed, last 30 days", "Candidates for a tighter threshold or retirement."),
    "unsampled_large": (
        f"Rules without sampling on large tables (> {review.LARGE_TABLE_ROWS:,} rows)",
        "The runbook's check (sample_size > 50,000 without use_sampling) and the rows each rule's newest "
        "result actually read; consider use_sampling: true with sample_size: 10000.",
    ),
    "unacknowledged_by_owner": ("Unacknowledged violations by owner", "Open violations nobody has acknowledged."),
}

start("Rule review", "The weekly rule review (runbook: every Monday at 10 AM).")
report = data.load(review.weekly_review, now=data.minute_now())
st.caption(f"Generated {fmt_time(report.generated_at)}.")
left, mid, right = st.columns([1, 1, 2])
left.download_button("Download report (JSON)", report.to_json(), file_name="weekly_rule_review.json",
                     mime="application/json", key="download_json")
section = right.selectbox("Section as CSV", list(TITLES), format_func=lambda s: TITLES[s][0], key="csv_section")
mid.download_button("Download section (CSV)", report.sections()[section].write_csv(),
                    file_name=f"{section}.csv", mime="text/csv", key="download_csv")
for name, (title, caption) in TITLES.items():
    frame = report.sections()[name]
    st.subheader(title)
    st.caption(caption)
    if frame.is_empty():
        st.info("Nothing here.")
    else:
        shown, config = links.linked(frame, rule="rule_name" if "rule_name" in frame.columns else "name")
        st.dataframe(shown, hide_index=True, width="stretch", column_config=config)
