"""End to end: `streamlit run app.py` in a subprocess, driven by Debian's chromium through Playwright.

One server per module. Identity comes from a trusted header (DQ_AUTH_HEADER=X-DQ-User), which the
browser context sends on every request, so each write is recorded under that user.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, sync_playwright

from console import nav
from store import db, migrations, schema
from tests import seed
from tests.conftest import TEST_SIGNING_KEY
from tests.seed import ago

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
USER = "oncall@company.com"
TITLES = [p.title for p in nav.SIDEBAR]
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}; its output is in streamlit.log beside the store")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer on {base} within {timeout} s")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder / 'dq_store.db'}"
    engine = db.get_engine(url)
    migrations.migrate(engine)
    seed.suite(engine=engine)
    seed.rule(engine=engine)
    seed.rule(name="revenue_positive", severity="CRITICAL", engine=engine)
    seed.checked(status="FAILED", at=ago(hours=1), engine=engine)
    seed.heartbeat(engine=engine, started_at=ago(days=1))
    ids = {
        "ack": seed.violation(detected_at=ago(hours=1), engine=engine),
        "deep": seed.violation(rule_name="revenue_positive", severity="CRITICAL", detected_at=ago(hours=2),
                               engine=engine),
    }
    yield {"url": url, "folder": folder, **ids}


@pytest.fixture(scope="module")
def base_url(store: dict[str, object]) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_")}
    env.update(DQ_STORE_URL=str(store["url"]), DQ_DATA_DIR=str(store["folder"]), DQ_AUTH_HEADER="X-DQ-User",
               DQ_SECRETS_FILE=str(Path(str(store["folder"])) / "none.toml"), DQ_NOW=seed.NOW.isoformat())
    with console_server(env, Path(str(store["folder"])) / "streamlit.log") as base:
        yield base


@contextmanager
def console_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`streamlit run serve.py` on a free port with `env`: yields its base URL once healthy, stops it after."""
    env = {"DQ_BYPASS_SIGNING_KEY": TEST_SIGNING_KEY, **env}  # outside dev mode a write needs the key (docs/security.md)
    port = _free_port()
    # The server logs to a file: an unread pipe would block a chatty server once its buffer fills.
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing. Hint: apt-get install chromium (never `playwright install`).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def _open(browser: Browser, url: str, user: str | None = USER) -> Page:
    """A fresh session (new context) on `url`, waiting until the page has drawn its title."""
    context = browser.new_context(
        extra_http_headers={"X-DQ-User": user} if user else {}, viewport={"width": 1400, "height": 1000}
    )
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("h1", timeout=120_000)
    return page


def _sidebar_titles(page: Page) -> list[str]:
    page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]', timeout=120_000)
    links = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]').all()
    return [link.inner_text().split("\n")[-1].strip() for link in links]


def _settled(page: Page) -> None:
    """Wait until lazily loaded widgets have replaced their skeletons (for honest screenshots)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=120_000)
    page.wait_for_timeout(300)


def test_every_page_opens_by_url_with_the_console_sidebar(base_url: str, browser: Browser) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Deep links first, on a server that has not yet run app.py: the legacy pages/ trap.
    for page_def in [*nav.PAGES[1:], nav.PAGES[0]]:
        address = "" if page_def is nav.PAGES[0] else page_def.url_path  # the default page lives at /
        page = _open(browser, f"{base_url}/{address}")
        assert _sidebar_titles(page) == TITLES, page_def.url_path
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "app" not in sidebar.split(), "the legacy auto-discovered sidebar is showing"
        page.wait_for_selector(f'h1:has-text("{page_def.title}")', timeout=120_000)
        _settled(page)
        page.screenshot(path=str(ARTIFACTS / f"{page_def.url_path}.png"), full_page=True)
        page.context.close()


def test_trusted_header_identifies_the_user(base_url: str, browser: Browser) -> None:
    page = _open(browser, f"{base_url}/")
    page.get_by_text(f"Signed in as {USER}").wait_for(timeout=90_000)
    page.context.close()
    anonymous = _open(browser, f"{base_url}/", user=None)
    anonymous.get_by_text("header on this request", exact=False).wait_for(timeout=90_000)
    anonymous.context.close()


def test_acknowledge_in_the_browser_records_the_user(base_url: str, browser: Browser, store: dict) -> None:
    page = _open(browser, f"{base_url}/violations")
    _settled(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    assert box is not None
    # Triage order: the CRITICAL one first, then the HIGH one to acknowledge; click its row's checkbox.
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * 1 + 17)
    page.get_by_role("button", name="Acknowledge (1)").wait_for(timeout=90_000)
    page.get_by_placeholder("e.g. upstream load re-running").first.fill("seen in the browser")
    page.get_by_placeholder("e.g. upstream load re-running").first.press("Enter")
    button = page.get_by_role("button", name="Acknowledge (1)")
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Acknowledge (1)') && !b.disabled)",
        timeout=90_000,
    )
    button.click()
    engine = db.get_engine(str(store["url"]))
    deadline = time.monotonic() + 90
    row = None
    while time.monotonic() < deadline:
        with db.read(engine) as conn:
            row = conn.execute(sa.select(schema.violations).where(schema.violations.c.id == store["ack"])).mappings().one()
        if row["status"] == "acknowledged":
            break
        time.sleep(0.3)
    assert row is not None
    assert (row["status"], row["acknowledged_by"], row["ack_note"]) == ("acknowledged", USER, "seen in the browser")
    page.context.close()


def test_deep_link_opens_the_violation(base_url: str, browser: Browser, store: dict) -> None:
    page = _open(browser, f"{base_url}/violations?violation={store['deep']}")
    heading = page.locator("h3").filter(has_text=f"#{store['deep']} CRITICAL")  # "#N CRITICAL · rule · open"
    heading.wait_for(timeout=120_000)
    assert "revenue_positive" in heading.inner_text()
    page.get_by_text("Failing-row sample").wait_for(timeout=90_000)
    _settled(page)
    page.screenshot(path=str(ARTIFACTS / "violation_deep_link.png"), full_page=True)
    page.context.close()
