import shutil
from pathlib import Path

import pytest

from console import nav

PAGES = [p.path for p in nav.PAGES]


def test_every_declared_page_exists() -> None:
    root = Path(__file__).resolve().parents[2]
    assert all((root / path).is_file() for path in PAGES)
    assert [p.url_path for p in nav.PAGES] == [Path(p.path).stem for p in nav.PAGES]
    assert nav.PAGES[0].title == "Health"


def test_default_page_is_health_with_the_sidebar(sqlite_store: str, open_page) -> None:
    at = open_page()
    assert [t.value for t in at.title] == ["Health"]
    assert "Local development mode: acting as **dev@localhost**" in at.sidebar.warning[0].value


MINE = PAGES  # every page of the navigation, the bypass and alerts pages included


@pytest.mark.parametrize("page", MINE)
def test_every_page_renders_on_an_empty_store(sqlite_store: str, open_page, page: str) -> None:
    at = open_page(page)
    assert len(at.title) == 1
    assert not at.error or "no heartbeat" in at.error[0].value


@pytest.mark.parametrize("page", MINE)
def test_unreachable_store_shows_a_message_not_a_traceback(monkeypatch, open_page, page: str) -> None:
    monkeypatch.setenv("DQ_STORE_URL", "postgresql+psycopg://dq:topsecret@127.0.0.1:1/dq_store")
    at = open_page(page)
    message = at.error[0].value
    assert "Store unavailable" in message and "cannot be reached" in message
    assert "topsecret" not in message and "Hint: check DQ_STORE_URL" in message


def test_unmigrated_store_says_how_to_fix_it(tmp_path, monkeypatch, open_page) -> None:
    monkeypatch.setenv("DQ_STORE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    at = open_page("pages/violations.py")
    assert "python manage.py migrate" in at.error[0].value


@pytest.mark.parametrize("page", ["pages/violations.py", "pages/bypass_requests.py"])
def test_a_first_deep_link_through_the_legacy_path_joins_the_navigation(sqlite_store: str, page: str) -> None:
    """AppTest, like a fresh server, runs a page/ file directly the first time (Streamlit's legacy
    pages/ path); the page's identity check switches to app.py's navigation and its sidebar."""
    from streamlit.testing.v1 import AppTest

    from tests.pages.conftest import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(page)
    at.run()
    assert not at.exception
    assert at.session_state[nav.FLIP_TRIED] and at.session_state[nav.DRAWN_BY_APP]
    links = [e for e in at.sidebar if type(e).__name__ == "PageLink"]
    assert [link.proto.label for link in links] == [p.title for p in nav.SIDEBAR]


def test_a_broken_gate_config_is_shown_at_start(sqlite_store: str, tmp_path, monkeypatch, open_page) -> None:
    config = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "config", config)
    (config / "dq.yaml").write_text("dq:\n  strict_mode: maybe\n")
    monkeypatch.setenv("DQ_CONFIG_DIR", str(config))
    at = open_page()
    assert any("Configuration problem" in e.value and "dq.strict_mode must be true or false" in e.value for e in at.error)
