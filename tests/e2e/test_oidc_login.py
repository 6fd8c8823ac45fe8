"""OIDC login end to end: a real OpenID Connect provider (oidc-provider-mock) in a subprocess,
`streamlit run app.py` with `[auth]` pointing at it, and Debian's chromium going through the real
authorization-code flow: the user and their roles from roles.yaml reach the pages and their
writes, and logging out ends the session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from store import db, migrations, schema
from tests import seed
from tests.conftest import TEST_SIGNING_KEY
from tests.e2e.test_console_browser import ARTIFACTS, ROOT, _free_port, _wait_healthy, browser  # noqa: F401
from tests.seed import ago

pytestmark = pytest.mark.browser
LEAD = "data-eng-lead@company.com"  # config/roles.yaml: data_eng_lead


def _wait_for_provider(url: str, provider: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if provider.poll() is not None:
            pytest.fail(f"oidc-provider-mock exited with {provider.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=2) as response:
                if json.load(response).get("authorization_endpoint"):
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"oidc-provider-mock did not answer on {url}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    folder = tmp_path_factory.mktemp("oidc")
    url = f"sqlite:///{folder / 'dq_store.db'}"
    engine = db.get_engine(url)
    migrations.migrate(engine)
    seed.suite(engine=engine)
    seed.rule(engine=engine)
    seed.heartbeat(engine=engine, started_at=ago(days=1))
    violation = seed.violation(detected_at=ago(hours=1), engine=engine)

    issuer_port, console_port = _free_port(), _free_port()
    issuer = f"http://127.0.0.1:{issuer_port}"
    claims = json.dumps({"sub": "dana-7", "email": LEAD, "name": "Dana Lead"})
    with (folder / "provider.log").open("w") as log:
        provider = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--port", str(issuer_port),
                                     "--user-claims", claims], stdout=log, stderr=subprocess.STDOUT)
    secrets = folder / "secrets.toml"
    secrets.write_text(f"""\
[auth]
redirect_uri = "http://127.0.0.1:{console_port}/oauth2callback"
cookie_secret = "a-test-cookie-secret-of-enough-length"
client_id = "dq-console"
client_secret = "dq-console-client-secret"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_")}
    env["DQ_BYPASS_SIGNING_KEY"] = TEST_SIGNING_KEY  # outside dev mode a write needs the key (docs/security.md)
    env.update(DQ_STORE_URL=url, DQ_DATA_DIR=str(folder), DQ_SECRETS_FILE=str(secrets), DQ_NOW=seed.NOW.isoformat())
    with (folder / "streamlit.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(console_port),
             "--server.headless", "true", "--server.address", "127.0.0.1", "--secrets.files", str(secrets)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    base = f"http://127.0.0.1:{console_port}"
    try:
        _wait_for_provider(issuer, provider)
        _wait_healthy(base, server)
        yield {"base": base, "url": url, "violation": violation, "folder": folder}
    finally:
        _stop(server)
        _stop(provider)


def _log_in(page: Page) -> None:
    page.get_by_role("button", name="Log in").click(timeout=120_000)
    # The provider's own authorization page: our predefined user's button carries its subject.
    page.wait_for_selector("text=Authorize Client", timeout=60_000)
    page.locator('button[name="sub"][value="dana-7"]').click()


def test_log_in_through_the_provider_act_under_that_name_and_log_out(console: dict, browser: Browser) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(str(console["base"]))
    assert "Signed in as" not in page.content()
    _log_in(page)
    page.get_by_text(f"Signed in as {LEAD} (data_eng_lead) via oidc").wait_for(timeout=120_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "oidc_signed_in.png"), full_page=True)

    # The identity reaches the writes: an acknowledgement is recorded under the OIDC e-mail.
    page.goto(f"{console['base']}/violations")
    # Select the one violation's row in the table (its checkbox), then acknowledge it with a note.
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=120_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=120_000)
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    page.get_by_role("button", name="Acknowledge (1)").wait_for(timeout=90_000)
    page.get_by_placeholder("e.g. upstream load re-running").first.fill("seen after OIDC login")
    page.get_by_placeholder("e.g. upstream load re-running").first.press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Acknowledge (1)') && !b.disabled)",
        timeout=90_000,
    )
    page.get_by_role("button", name="Acknowledge (1)").click()
    engine = db.get_engine(str(console["url"]))
    row = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with db.read(engine) as conn:
            row = conn.execute(sa.select(schema.violations).where(schema.violations.c.id == console["violation"])).mappings().one()
        if row["status"] == "acknowledged":
            break
        time.sleep(0.3)
    assert row is not None and (row["status"], row["acknowledged_by"]) == ("acknowledged", LEAD)

    # Logging out ends the session at the provider too (RP-initiated logout), then comes back
    # to the console: the login button is back, also after a reload.
    page.get_by_role("button", name="Log out").click(timeout=60_000)
    page.get_by_role("button", name="End session").click(timeout=60_000)
    page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
    page.reload()
    page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
    assert "Signed in as" not in page.content()
    context.close()


def test_a_fresh_browser_is_not_signed_in(console: dict, browser: Browser) -> None:  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{console['base']}/violations")
    page.get_by_role("button", name="Log in").wait_for(timeout=120_000)
    assert "Acknowledge (" not in page.content()
    context.close()
