"""The DQ operations console: `streamlit run app.py`. Navigation only; each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="DQ operations console", page_icon=":material/monitor_heart:", layout="wide")

# Explicit url_path on every page: deep links (/violations?rule=...) stay stable, and together with
# client.showSidebarNavigation = false the legacy pages/ auto-discovery never shows its own sidebar.
PAGES = [
    st.Page("pages/health.py", title="Health", icon=":material/monitor_heart:", url_path="health", default=True),
    st.Page("pages/violations.py", title="Violations", icon=":material/warning:", url_path="violations"),
    st.Page("pages/rule_review.py", title="Rule review", icon=":material/fact_check:", url_path="rule-review"),
    st.Page("pages/bypass_requests.py", title="Bypass requests", icon=":material/alt_route:",
            url_path="bypass-requests"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:", url_path="runs"),
    st.Page("pages/rules.py", title="Rules", icon=":material/rule:", url_path="rules"),
]

st.navigation(PAGES, position="sidebar").run()
