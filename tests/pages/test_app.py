from pathlib import Path

import pytest

from console import nav

PAGES = [p.path for p in nav.PAGES]


def test_every_declared_page_exists() -> None:
    root = Path(__file__).resolve().parents[2]
    assert all((root / path).is_file() for path in PAGES)
    assert [p.url_path for p in nav.PAGES] == [
        "health", "violations", "rule_review", "bypass_requests", "runs", "rules"]


def test_default_page_is_health_with_the_sidebar(sqlite_store: str, open_page) -> None:
    at = open_page()
    assert [t.value for t in at.title] == ["Health"]
    assert "Local development mode: acting as **dev@localhost**" in at.sidebar.warning[0].value


@pytest.mark.parametrize("page", [p for p in PAGES if "bypass" not in p])
def test_every_page_renders_on_an_empty_store(sqlite_store: str, open_page, page: str) -> None:
    at = open_page(page)
    assert len(at.title) == 1
    assert not at.error or "no heartbeat" in at.error[0].value


@pytest.mark.parametrize("page", [p for p in PAGES if "bypass" not in p])
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
