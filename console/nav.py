"""The console's pages, declared once: app.py builds st.navigation from them and every page draws them.

Why pages draw the sidebar themselves: Streamlit decides per process whether `pages/` is a
legacy auto-discovered folder; until app.py has run once, a deep link such as /violations runs
pages/violations.py directly under Streamlit's own sidebar (`app`, `health`, ...). With
`client.showSidebarNavigation = false` that legacy sidebar is hidden, st.navigation is hidden
too, and these links are the one sidebar in both cases: app.py draws them for every page,
and a page run directly by the legacy path (app.py not run in this session) draws them itself. url_path equals the file stem, so a
link has the same address whichever way Streamlit resolved it.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class NavPage:
    path: str  # relative to app.py
    title: str
    icon: str

    @property
    def url_path(self) -> str:
        return self.path.removeprefix("pages/").removesuffix(".py")


PAGES = (
    NavPage("pages/health.py", "Health", ":material/monitor_heart:"),
    NavPage("pages/violations.py", "Violations", ":material/warning:"),
    NavPage("pages/rule_review.py", "Rule review", ":material/fact_check:"),
    NavPage("pages/bypass_requests.py", "Bypass requests", ":material/alt_route:"),
    NavPage("pages/runs.py", "Runs", ":material/history:"),
    NavPage("pages/rules.py", "Rules", ":material/rule:"),
)


def st_pages() -> list[st.Page]:
    return [
        st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=i == 0)
        for i, p in enumerate(PAGES)
    ]


DRAWN_BY_APP = "dq_nav_drawn_by_app"


def sidebar() -> None:
    """Draw the page links in the sidebar (app.py does it for every page once it has run)."""
    with st.sidebar:
        st.markdown("**DQ operations console**")
        for page in PAGES:
            st.page_link(page.path, label=page.title, icon=page.icon)
        st.divider()


def sidebar_if_legacy() -> None:
    if not st.session_state.get(DRAWN_BY_APP):
        sidebar()
