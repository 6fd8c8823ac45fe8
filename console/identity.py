"""Who is clicking: OIDC login when configured, else a trusted proxy header, else bannered dev mode."""

from __future__ import annotations

import streamlit as st

import settings
from console import nav
from ops.roles import RolesError, User, user


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _oidc_name() -> str:
    """The name roles.yaml knows an OIDC user by: e-mail, else the preferred user name, else the subject."""
    for claim in ("email", "preferred_username", "name", "sub"):
        value = st.user.get(claim)
        if value:
            return str(value)
    st.error("The identity provider sent no e-mail, user name or subject. Hint: request the `email` scope.")
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def current_user() -> User:
    """The user of this session; pages pass `.name` to every store write.

    Every page asks who is clicking first, so this is also where a page reached through
    Streamlit's legacy pages/ path joins app.py's navigation (console.nav.leave_legacy_mode).
    """
    nav.leave_legacy_mode()
    if _oidc_configured():
        if not st.user.is_logged_in:
            st.button("Log in", on_click=st.login)
            st.stop()
        return _user(_oidc_name(), "oidc")
    header = settings.get("DQ_AUTH_HEADER")
    if header:
        name = st.context.headers.get(header)
        if not name:
            st.error(f"No `{header}` header on this request. Hint: reach the console through the proxy.")
            st.stop()
        return _user(name, "header")
    return _user(settings.get("DQ_DEV_USER"), "dev")


def _user(name: str, mode: str) -> User:
    """The user and their roles; with a broken roles.yaml nobody holds a role (read-only) until it is
    fixed, and app.py's configuration banner names the file, line and key."""
    try:
        return user(name, mode=mode)
    except RolesError:
        return User(name=name, roles=frozenset(), mode=mode)
