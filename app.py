"""The DQ operations console: `streamlit run app.py`. Navigation only; each page lives in pages/."""

import streamlit as st

from console import data, nav

# Hidden: every page draws the same links itself (console.nav explains the legacy pages/ trap).
page = st.navigation(nav.st_pages(), position="hidden")
st.set_page_config(page_title=f"{page.title} · DQ console", page_icon=nav.FAVICON, layout="wide")
nav.sidebar()
if problem := data.config_problem():  # validated at start: the gate and the bypass page depend on it
    st.error(f"Configuration problem: {problem}")
st.session_state[nav.DRAWN_BY_APP] = True
page.run()
