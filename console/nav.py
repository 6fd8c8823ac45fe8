"""The console's pages, declared once: app.py builds st.navigation from them and every page draws them.

Why pages draw the sidebar themselves: Streamlit decides per process whether `pages/` is a
legacy auto-discovered folder; until app.py has run once, a deep link such as /violations runs
pages/violations.py directly under Streamlit's own sidebar (`app`, `health`, ...). With
`client.showSidebarNavigation = false` that legacy sidebar is hidden, st.navigation is hidden
too, and these links are the one sidebar in both cases: app.py draws them for every page.
A page run directly by the legacy path (app.py not run in this session) first switches the
server over to st.navigation and reruns (`leave_legacy_mode`), so after the first request every
page, including those that do not call it, goes through app.py. url_path equals the file stem, so a
link has the same address whichever way Streamlit resolved it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

APP_SCRIPT = "app.py"
FAVICON = str(Path(__file__).parent / "static" / "favicon.png")


@dataclass(frozen=True)
class NavPage:
    path: str  # relative to app.py
    title: str
    icon: str
    in_sidebar: bool = True  # the rule and table pages are reached by links, with ?name= / ?suite=

    @property
    def url_path(self) -> str:
        return self.path.removeprefix("pages/").removesuffix(".py")


PAGES = (
    NavPage("pages/health.py", "Health", ":material/monitor_heart:"),
    NavPage("pages/violations.py", "Violations", ":material/warning:"),
    NavPage("pages/rule_review.py", "Rule review", ":material/fact_check:"),
    NavPage("pages/bypass_requests.py", "Bypass requests", ":material/alt_route:"),
    NavPage("pages/runs.py", "Runs", ":material/history:"),
    NavPage("pages/alerts.py", "Alerts", ":material/notifications:"),
    NavPage("pages/rules.py", "Rules", ":material/rule:"),
    NavPage("pages/rule.py", "Rule", ":material/rule:", in_sidebar=False),
    NavPage("pages/table.py", "Table", ":material/table:", in_sidebar=False),
)
SIDEBAR = tuple(p for p in PAGES if p.in_sidebar)


def st_pages() -> list[st.Page]:
    return [
        # No icon: Streamlit would fetch a :material: page icon from fonts.gstatic.com as the
        # favicon; app.py sets the local FAVICON instead (the sidebar links keep their icons).
        st.Page(p.path, title=p.title, url_path=p.url_path, default=i == 0)
        for i, p in enumerate(PAGES)
    ]


DRAWN_BY_APP = "dq_nav_drawn_by_app"


def sidebar() -> None:
    """Draw the page links in the sidebar (app.py does it for every page once it has run)."""
    with st.sidebar:
        st.markdown("**DQ operations console**")
        for page in SIDEBAR:
            st.page_link(page.path, label=page.title, icon=page.icon)
        st.divider()


FLIP_TRIED = "dq_nav_flip_tried"


def _under_app() -> bool:
    """False when a page file is itself the main script (AppTest of a single page): no app to join."""
    ctx = get_script_run_ctx()
    return ctx is None or Path(ctx.main_script_path).name == APP_SCRIPT


def leave_legacy_mode() -> None:
    """Called first by every page: if app.py did not run (legacy pages/ path), switch the app over.

    Declaring our navigation switches the whole server process to st.navigation for good; the
    rerun then goes through app.py to the same URL. Tried once per session; if it did not take,
    the page still draws the same sidebar itself.
    """
    if st.session_state.get(DRAWN_BY_APP) or not _under_app():
        return
    if not st.session_state.get(FLIP_TRIED):
        st.session_state[FLIP_TRIED] = True
        st.navigation(st_pages(), position="hidden")
        st.rerun()
    sidebar()
