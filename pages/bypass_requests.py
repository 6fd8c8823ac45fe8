"""Bypass requests: the failover procedure's request form, approvals and active bypasses."""

import streamlit as st

st.title("Bypass requests")
st.info("The bypass procedure is being built (issue 7).")
