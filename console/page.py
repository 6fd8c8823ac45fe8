"""The frame every page shares: config problems, who is clicking, the dev-mode banner, and a store that answers."""

from __future__ import annotations

import streamlit as st

from console import data
from console.identity import current_user
from ops.roles import User


def start(title: str, caption: str | None = None) -> User:
    """Title the page, show what is wrong in the config files, identify the user (banner in dev mode)
    and stop if the store cannot answer."""
    st.title(title)
    if caption:
        st.caption(caption)
    if problem := data.config_problem():  # on every page: the gate, bypasses, alerts and roles depend on them
        st.error(f"**Configuration problem.** {problem}")
    user = current_user()
    banner(user)
    data.require_store()
    return user


def banner(user: User) -> None:
    roles = ", ".join(sorted(user.roles)) or "no role"
    if user.mode == "dev":
        st.sidebar.warning(
            f"Local development mode: acting as **{user.name}** ({roles}). "
            "Configure `[auth]` in secrets.toml or DQ_AUTH_HEADER before sharing this console."
        )
    else:
        st.sidebar.caption(f"Signed in as **{user.name}** ({roles}) via {user.mode}")
    if user.mode == "oidc":
        st.sidebar.button("Log out", on_click=st.logout, key="dq_logout")


def fmt_time(value: object) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"
