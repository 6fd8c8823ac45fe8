"""The console's server: `streamlit run serve.py` serves app.py with its deep links made offline-clean.

Streamlit's frontend finds its server by probing the page's own path first: a deep link such as
/violations asks /violations/_stcore/health and /violations/_stcore/host-config (404), then
/_stcore/health. `IndexWithBase` strips a leading page segment (console.nav.PAGES) from Streamlit's
own routes, so that first probe answers and the browser logs no failed request.
"""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware

from console.server import IndexWithBase

app = st.App("app.py", middleware=[Middleware(IndexWithBase)])
