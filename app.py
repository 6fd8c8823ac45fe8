"""The DQ operations console: `streamlit run app.py`. Navigation only; each page lives in pages/."""

import streamlit as st

from console import nav
from settings import SettingsError
from telemetry import logs

# Hidden: every page draws the same links itself (console.nav explains the legacy pages/ trap).
page = st.navigation(nav.st_pages(), position="hidden")
st.set_page_config(page_title=f"{page.title} · DQ console", page_icon=nav.FAVICON, layout="wide")
nav.sidebar()
try:
    logs.configure("console")  # stderr and DQ_LOG_DIR/console.log; a rerun changes nothing
except SettingsError as exc:
    st.error(f"Logging: {exc}")
# Config file problems are shown by console.page.start on every page (every run, whatever the path).
st.session_state[nav.DRAWN_BY_APP] = True
page.run()
