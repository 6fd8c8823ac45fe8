"""The failover procedure end to end: a real Streamlit server, real Chromium users, the real gate command.

One user per browser context (the trusted header X-DQ-User); the gate runs as a subprocess whose
clock is set with DQ_NOW, so "during the bypass" and "after expiry" are exact.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from store import bypass
from tests.bypass_rows import add_run, add_suite, fix_orders, real_orders_suite

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ONCALL, LEAD, LEAD2, MANAGER = "oncall@company.com", "data-eng-lead@company.com", "lead2@company.com", "manager@company.com"
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine is slow; a real failure still fails


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def console(sqlite_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """The console (`streamlit run app.py`) with the trusted-header identity; yields the page's URL."""
    warehouse = real_orders_suite(tmp_path, monkeypatch)
    add_suite("gold.revenue", "gold")
    add_run("gold.revenue", [("revenue_blocking", "HIGH", "FAILED")])  # a bypass only while blocked
    add_suite("silver.customers", "silver", ["pii"])
    add_run("silver.customers", [("customers_email_valid", "CRITICAL", "FAILED")])
    port = _free_port()
    env = {**os.environ, "DQ_AUTH_HEADER": "X-DQ-User"}
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, tmp_path / "streamlit.log")
        yield url, warehouse
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not become healthy: {log.read_text()}")


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing. Hint: apt-get install chromium.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def open_as(browser: Browser, url: str, user: str) -> Page:
    context = browser.new_context(extra_http_headers={"X-DQ-User": user}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("link", name="Bypass requests").click()  # the console's sidebar, as a user would
    expect(page.get_by_role("heading", name="Bypass requests")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {user}")).to_be_visible()
    return page


def tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def gate(suite: str, now: datetime, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DQ_NOW": now.isoformat()}
    return subprocess.run(
        [sys.executable, "manage.py", "dq_gate", "--suite", suite, *extra], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )


def file_request(page: Page, table_option: str, hours: str) -> None:
    tab(page, "Request")
    page.get_by_label("Table").click()
    page.get_by_role("option", name=table_option).click()
    for label, value in [
        ("Incident ticket id *", "INC-77"), ("Incident ticket link *", "https://jira.example.com/browse/INC-77"),
        ("Business impact *", "Orders dashboard blocked"), ("Impact assessment *", "Gold revenue off by 0.1%"),
        ("Rollback plan *", "Restore latest/ from backup/"), ("Fix timeline *", "Next release (24 hours)"),
        ("Alternative remediation plan *", "Backfill ids from the source"),
    ]:
        page.get_by_label(label).fill(value)
    page.get_by_label("Proposed duration in hours", exact=False).fill(hours)
    page.get_by_role("button", name="Submit bypass request").click()


def approve(page: Page, request_id: int) -> None:
    tab(page, "Pending approval")
    page.locator(f".st-key-approve_{request_id} button").first.click()


def confirm_dialog(page: Page, field: str, text: str, button: str) -> None:
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(field).fill(text)
    dialog.get_by_role("button", name=button).click()


def test_the_failover_procedure_end_to_end(console: tuple[str, Path], browser: Browser, tmp_path: Path) -> None:
    url, warehouse = console
    blocked = gate("silver.orders", datetime.now(UTC))
    assert blocked.returncode == 1 and "orders_id_not_null [HIGH] FAILED" in blocked.stderr

    # The on-call engineer files a request; never-allowed tables are not offered; details are filled in.
    oncall = open_as(browser, url, ONCALL)
    oncall.get_by_label("Table").click()
    offered = oncall.get_by_role("option").all_inner_texts()
    assert offered == ["gold.revenue (suite gold.revenue, gold)", "orders (suite silver.orders, silver)"]
    oncall.keyboard.press("Escape")
    file_request(oncall, "orders (suite silver.orders, silver)", "30")
    expect(oncall.get_by_text("a silver bypass may last at most 24 h (approval matrix); 30 h was asked")).to_be_visible()
    oncall.get_by_label("Proposed duration in hours", exact=False).fill("6")
    oncall.get_by_role("button", name="Submit bypass request").click()
    expect(oncall.get_by_text("Bypass request #1 filed; it needs data_eng_lead.")).to_be_visible()
    assert "orders_id_not_null [HIGH] FAILED" in bypass.get(1).failure_details

    # A lead files the gold request and may not approve it himself.
    lead2 = open_as(browser, url, LEAD2)
    file_request(lead2, "gold.revenue (suite gold.revenue, gold)", "12")
    expect(lead2.get_by_text("Bypass request #2 filed; it needs data_eng_lead + manager.")).to_be_visible()
    tab(lead2, "Pending approval")
    expect(lead2.locator(".st-key-approve_2 button").first).to_be_disabled()  # enabled only for who may approve
    expect(lead2.get_by_text("cannot approve it (four eyes)").first).to_be_visible()

    # The lead approves silver (active) and gold (still needs the manager); the manager completes gold.
    lead = open_as(browser, url, LEAD)
    approve(lead, 1)
    expect(lead.get_by_text("Bypass #1 is ACTIVE until")).to_be_visible()
    approve(lead, 2)
    expect(lead.get_by_text("Approval recorded; bypass #2 needs another approver.")).to_be_visible()
    manager = open_as(browser, url, MANAGER)
    approve(manager, 2)
    expect(manager.get_by_text("Bypass #2 is ACTIVE until")).to_be_visible()
    tab(manager, "Active")
    expect(manager.get_by_text("#1 orders: 5 h 59 min left")).to_be_visible()

    # The gate passes during the bypass, fails after expiry; pii tables ignore the override.
    silver = bypass.get(1)
    assert silver.activated_at and silver.expires_at
    during = gate("silver.orders", silver.activated_at + timedelta(hours=1), "--bypass", "true")
    assert during.returncode == 0, during.stderr
    assert "PASSING BECAUSE OF BYPASS #1" in during.stdout
    after = gate("silver.orders", silver.expires_at + timedelta(minutes=1), "--bypass", "true", "--max-age", "100000")
    assert after.returncode == 1 and "bypass #1: it expired" in after.stderr
    gold = bypass.get(2)
    assert gold.expires_at - gold.activated_at == timedelta(hours=12)
    pii = gate("silver.customers", silver.activated_at, "--bypass", "true", "--max-age", "100000")
    assert pii.returncode == 1 and "silver.customers holds pii data: it can never be bypassed" in pii.stderr

    # A row edited in the database to last longer is not honoured by the gate and flagged on the page.
    with sqlite3.connect(str(Path(os.environ["DQ_STORE_URL"].removeprefix("sqlite:///")))) as conn:
        conn.execute("UPDATE bypass_requests SET expires_at = datetime(expires_at, '+12 hours'), duration_hours = 18 WHERE id = 1")
    tampered = gate("silver.orders", silver.expires_at + timedelta(hours=1), "--bypass", "true", "--max-age", "100000")
    assert tampered.returncode == 2 and "records are not intact" in tampered.stderr, tampered.stderr
    manager.reload()
    tab(manager, "Active")
    expect(manager.get_by_text("The gate does NOT honour this bypass").first).to_be_visible()

    # Rollback of gold: confirmation dialog, immediate disable, the gate refuses again.
    tab(manager, "Active")
    manager.locator(".st-key-rollback_2 button").click()
    confirm_dialog(manager, "What went wrong *", "downstream jobs fail", "Roll back now")
    expect(manager.get_by_text("Bypass #2 rolled back")).to_be_visible()
    assert bypass.get(2).status == "rolled_back"

    # Restore of silver after the fix: the suite re-runs and passes; the request closes with the note.
    fix_orders(warehouse)
    tab(oncall, "Active")
    oncall.reload()
    tab(oncall, "Active")
    oncall.locator(".st-key-restore_1 button").click()
    confirm_dialog(oncall, "Incident note *", "fix deployed; INC-77 closed", "Restore DQ gate now")
    expect(oncall.get_by_text("Re-run #", exact=False).first).to_be_visible()
    expect(oncall.get_by_text(": PASS.", exact=False)).to_be_visible()
    assert (bypass.get(1).status, bypass.get(1).close_note) == ("restored", "fix deployed; INC-77 closed")

    # The incident ticket gets the full history.
    oncall.reload()
    expect(oncall.get_by_text(f"Signed in as {ONCALL}")).to_be_visible()
    tab(oncall, "History")
    oncall.get_by_label("Request to export").click()
    oncall.get_by_role("option", name="#1 orders", exact=False).click()
    expect(oncall.get_by_text("fix deployed; INC-77 closed", exact=False).first).to_be_visible()
    with oncall.expect_download() as download:
        oncall.get_by_role("button", name="Export history (Markdown)").click()
    exported = Path(download.value.path()).read_text()
    assert exported.startswith("# Bypass #1: orders (silver.orders, silver)")
    for action in ("bypass.requested", "bypass.approved", "bypass.activated", "bypass.restored", "bypass.verified"):
        assert f"| {action} |" in exported
