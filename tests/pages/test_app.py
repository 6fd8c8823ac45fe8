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
    assert any("Configuration problem" in e.value and ":2 key 'dq.strict_mode': must be true or false" in e.value for e in at.error)


def broken_config(tmp_path: Path, monkeypatch, name: str, text: str) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "config", folder)
    (folder / name).write_text(text)
    monkeypatch.setenv("DQ_CONFIG_DIR", str(folder))
    return folder / name


@pytest.mark.parametrize("page", MINE)
def test_a_malformed_roles_file_is_one_clear_error_on_every_page(sqlite_store: str, tmp_path, monkeypatch, open_page, page: str) -> None:
    path = broken_config(tmp_path, monkeypatch, "roles.yaml", "users:\n  dev@localhost: [oncall]\n  lead@x.com: [data_eng_lead\n")
    at = open_page(page)  # asserts no exception
    problems = [e.value for e in at.error if "roles.yaml" in e.value]
    assert len(problems) == 1, [e.value for e in at.error]
    assert f"{path}:4: not valid YAML" in problems[0] and "Hint: fix the YAML syntax" in problems[0]
    assert len(at.title) == 1  # the page still renders, read-only
    assert "(no role)" in at.sidebar.warning[0].value


def test_a_role_typo_names_the_line_and_the_fix(sqlite_store: str, tmp_path, monkeypatch, open_page) -> None:
    path = broken_config(tmp_path, monkeypatch, "roles.yaml", "users:\n  dev@localhost: [oncall]\n")
    at = open_page("pages/violations.py")
    message = next(e.value for e in at.error if "roles.yaml" in e.value)
    assert f"{path}:2 key 'users.dev@localhost': unknown value 'oncall'. Hint: did you mean on_call?" in message


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("alerting.yaml", "noise: {batch_window_seconds: soon}\n", ":1 key 'noise.batch_window_seconds': must be a number >= 0, got 'soon'"),
    ("dq.yaml", "dq: {strict_mode: maybe}\n", ":1 key 'dq.strict_mode': must be true or false"),
    ("approval_matrix.yaml", "never_allowed: [pii]\nlayers: {silver: {approvers: [data_eng_lead], max_hours: 24}}\n",
     ":1 key 'never_allowed': lacks ['compliance', 'financial']"),
])
def test_every_config_file_is_checked_for_the_banner(sqlite_store: str, tmp_path, monkeypatch, open_page, name, text, expected) -> None:
    path = broken_config(tmp_path, monkeypatch, name, text)
    at = open_page()
    banners = [e.value for e in at.error if "Configuration problem" in e.value]
    assert len(banners) == 1 and f"{path}{expected}" in banners[0]
