"""What a person sees, on the demo: every page and detail view in Chromium, read as text, screenshotted.

The demo is built as scripts/start.sh builds it (migrate, seed_demo, load_dq_rules, run_dq_checks --all)
with a real scheduler beating, then `streamlit run serve.py`. Each view fails on Streamlit internals
on screen (DeltaGenerator, a docstring, a traceback), an error box, or any failed request (a 404, a
call to an outside host, a console error). Screenshots (1440x900 and full page) and the time to a
fully rendered page go to tests/artifacts/ (git-ignored); the README quotes the timings.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from console import nav
from store import db, schema
from tests.conftest import TEST_SIGNING_KEY

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
USER = "oncall@company.com"
VIEWPORT = {"width": 1440, "height": 900}
pytestmark = pytest.mark.browser

# What must never be on screen: Streamlit's API docs (magic), Python docstrings and tracebacks.
INTERNALS = [
    re.compile(r"DeltaGenerator"),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"^\s*(Parameters|Returns|Examples)\s*\n\s*-{5,}", re.MULTILINE),
    re.compile(r"^\s*>>> ", re.MULTILINE),
    re.compile(r"streamlit\.(delta_generator|elements)\."),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in (0, 1), f"manage.py {' '.join(args)}: {done.stdout}\n{done.stderr}"  # 1 = rules failed


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for(url: str, process: subprocess.Popen, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}; its log is beside the demo store")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{what} did not answer on {url} within {timeout} s")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    folder = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_")}
    env["DQ_BYPASS_SIGNING_KEY"] = TEST_SIGNING_KEY  # outside dev mode a write needs the key (docs/security.md)
    env.update(DQ_DATA_DIR=str(folder), DQ_AUTH_HEADER="X-DQ-User", DQ_SECRETS_FILE=str(folder / "none.toml"),
               DQ_HEALTH_PORT=str(_free_port()), DQ_HEARTBEAT_SECONDS="2")
    for step in (["migrate"], ["seed_demo", "--rows-scale", "0.2"], ["load_dq_rules", "rules/"],
                 ["run_dq_checks", "--all"]):
        _manage(env, *step)
    logs = [(folder / name).open("w") for name in ("scheduler.log", "streamlit.log")]
    scheduler = subprocess.Popen([sys.executable, "manage.py", "scheduler"], cwd=ROOT, env=env, stdout=logs[0],
                                 stderr=subprocess.STDOUT)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=logs[1], stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    engine = db.get_engine(f"sqlite:///{folder / 'dq_store.db'}")
    try:
        _wait_for(f"{base}/_stcore/health", server, "streamlit")
        _wait_for(f"http://127.0.0.1:{env['DQ_HEALTH_PORT']}/api/v1/dq/health/", scheduler, "the scheduler")
        with db.read(engine) as conn:
            v = schema.violations.c
            worst = conn.execute(sa.select(v.id, v.rule_name, v.suite).order_by(v.severity, v.id).limit(1)).one()
            run_id = conn.execute(sa.select(sa.func.max(schema.runs.c.id))).scalar_one()
        yield {"base": base, "violation": worst.id, "rule": worst.rule_name, "suite": worst.suite, "run": run_id,
               "engine": engine}
    finally:
        _stop(server)
        _stop(scheduler)
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing. Hint: apt-get install chromium (never `playwright install`).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


class Visit:
    """One fresh session on one address, recording every request that failed and every console error."""

    def __init__(self, browser: Browser, url: str, context: BrowserContext | None = None) -> None:
        self.own = context is None
        self.context = context or browser.new_context(extra_http_headers={"X-DQ-User": USER}, viewport=VIEWPORT)
        self.page: Page = self.context.new_page()
        self.failed: list[str] = []
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url}: HTTP {r.status}"))
        self.page.on("console", lambda m: m.type == "error" and self.failed.append(f"console: {m.text}"))
        started = time.monotonic()
        self.page.goto(url)
        rendered(self.page)
        self.seconds = time.monotonic() - started

    def close(self) -> None:
        self.page.close()
        if self.own:
            self.context.close()


# Fully rendered: the script has finished (the app's own script state, not the "Running..." widget,
# which Streamlit shows only after 500 ms of running: a page passed as soon as its title was drawn),
# nothing stale, no skeleton of an element still loading its code, and every chart and table has
# drawn its canvas (a chart's element exists before ECharts has painted it, a table's before its grid).
RENDERED = """() => !!document.querySelector('h1')
    && document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState === 'notRunning'
    && !document.querySelector('[data-testid="stSkeleton"]')
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && document.querySelectorAll('[data-stale="true"]').length === 0
    && [...document.querySelectorAll('[data-testid="stEChartsChart"], [data-testid="stDataFrame"]')]
           .every(e => e.querySelector('canvas'))"""


def rendered(page: Page, timeout: float = 120_000) -> None:
    """Wait until the page is fully rendered (RENDERED), polling every 20 ms so the time is not rounded up."""
    page.wait_for_selector("h1", timeout=timeout)
    page.wait_for_function(RENDERED, timeout=timeout, polling=20)


def assert_clean(page: Page, failed: list[str], name: str) -> None:
    text = page.inner_text("body")
    shown = [p.pattern for p in INTERNALS if p.search(text)]
    assert not shown, f"{name}: Streamlit internals on screen ({shown})"
    errors = [e.inner_text() for e in page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').all()]
    assert not errors, f"{name}: error box on screen: {errors}"
    assert not failed, f"{name}: failed requests: {failed}"


def screenshot(page: Page, name: str) -> None:
    """What the person sees at 1440x900, and the whole page (Streamlit scrolls inside its main section,
    so the full view is taken with a viewport as tall as that section)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)  # charts finish their transition
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    height = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, VIEWPORT["height"]), 8000)})
    page.wait_for_timeout(600)
    page.screenshot(path=str(ARTIFACTS / f"{name}-full.png"))
    page.set_viewport_size(VIEWPORT)


def views(demo: dict[str, object]) -> dict[str, str]:
    pages = {p.url_path: f"/{'' if i == 0 else p.url_path}" for i, p in enumerate(nav.PAGES)}
    return {
        **pages,
        "violation_detail": f"/violations?violation={demo['violation']}",
        "run_detail": f"/runs?run={demo['run']}",
        "rule_detail": f"/rule?name={demo['rule']}",
        "table_detail": f"/table?suite={demo['suite']}",
    }


def test_every_view_is_clean_and_offline(demo: dict[str, object], browser: Browser) -> None:
    timings: dict[str, float] = {}
    # The timed visit: a new session (tab) in a browser that has the console's static assets cached,
    # as an on-call engineer's has; the first, checked visit of each view used a fresh browser context.
    cached = browser.new_context(extra_http_headers={"X-DQ-User": USER}, viewport=VIEWPORT)
    for name, address in views(demo).items():
        visit = Visit(browser, f"{demo['base']}{address}")
        assert_clean(visit.page, visit.failed, name)
        screenshot(visit.page, name)
        visit.close()
        warm = Visit(browser, f"{demo['base']}{address}", cached)
        timings[name] = round(warm.seconds, 2)
        assert_clean(warm.page, warm.failed, name)
        warm.close()
    cached.close()
    (ARTIFACTS / "browser_timings.json").write_text(json.dumps(timings, indent=2))


def test_bypass_tabs_are_clean(demo: dict[str, object], browser: Browser) -> None:
    visit = Visit(browser, f"{demo['base']}/bypass_requests")
    for tab in ("Request", "Pending approval", "Active", "History"):
        visit.page.get_by_role("tab", name=tab).click()
        rendered(visit.page)
        assert_clean(visit.page, visit.failed, f"bypass tab {tab}")
        screenshot(visit.page, f"bypass_{tab.lower().replace(' ', '_')}")
    visit.close()
