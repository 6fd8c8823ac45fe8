"""The DQ operations console: `streamlit run app.py`. Navigation only; each page lives in pages/."""

import streamlit as st

from console import data, nav
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
if problem := data.config_problem():  # validated at start: the gate and the bypass page depend on it
    st.error(f"Configuration problem: {problem}")
st.session_state[nav.DRAWN_BY_APP] = True
page.run()
