"""End to end in Chromium: an anomaly rule's page draws its metric history with the band, and on-call marks a
point "incident, exclude from training" (recorded with the user and audited)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser

from ops.run_checks import run_suite
from store import db, schema
from tests.e2e.test_console_browser import ARTIFACTS, USER, _open, _settled, console_server
from tests.e2e.test_console_browser import browser as browser  # noqa: F401 - the module's Chromium fixture
from tests.ops.test_anomaly_run import INCIDENT_DAY, T0, events_warehouse, load_rules, rules_folder

pytestmark = pytest.mark.browser
RULE = "events_daily_volume"


@pytest.fixture
def console(tmp_path: Path, sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A store holding one judged anomaly rule (a collapse on Sunday), and the console over it."""
    warehouse = events_warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    rules = rules_folder(tmp_path)
    for name, value in {"DQ_RULES_DIR": str(rules), "DQ_SOURCE_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'wh.db'}",
                        "DQ_NOW": T0.isoformat()}.items():
        monkeypatch.setenv(name, value)
    load_rules(rules)
    assert run_suite("silver.events").report.results[0].status.value == "FAILED"
    warehouse.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_")}
    env.update(DQ_STORE_URL=sqlite_store, DQ_DATA_DIR=str(tmp_path), DQ_AUTH_HEADER="X-DQ-User",
               DQ_RULES_DIR=str(rules), DQ_SECRETS_FILE=str(tmp_path / "none.toml"), DQ_NOW=T0.isoformat())
    with console_server(env, tmp_path / "streamlit.log") as base:
        yield base


def test_the_rule_page_draws_the_band_and_marks_an_incident(console: str, browser: Browser) -> None:  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _open(browser, f"{console}/rule?name={RULE}")
    page.get_by_text("Metric history").wait_for(timeout=120_000)
    _settled(page)
    page.get_by_text("Metric history").scroll_into_view_if_needed()  # the console scrolls inside its main block
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "rule_anomaly_history.png"), full_page=True)
    legends = " ".join(legend.text_content() or "" for legend in page.locator(".legend").all())  # SVG: no innerText
    assert "expected band" in legends and "excluded from training" in legends and "anomaly" in legends

    # The newest point not yet excluded is the default choice: Saturday 28 February.
    page.get_by_label("Note (incident id, cause)").fill("INC-42 replayed load")
    page.get_by_role("button", name="Incident: exclude from training").click()
    engine = db.get_engine()
    deadline = time.monotonic() + 90
    marked = None
    while time.monotonic() < deadline:
        with db.read(engine) as conn:
            marked = conn.execute(sa.select(schema.metric_points).where(schema.metric_points.c.excluded.is_(True))).mappings().first()
        if marked is not None:
            break
        time.sleep(0.3)
    assert marked is not None
    assert (marked["excluded_by"], marked["excluded_note"]) == (USER, "INC-42 replayed load")
    assert marked["at"] < INCIDENT_DAY
    with db.read(engine) as conn:
        audit = conn.execute(sa.select(schema.audit_log).where(schema.audit_log.c.action == "metric_point.excluded")).mappings().one()
    assert (audit["actor"], audit["entity_id"]) == (USER, str(marked["id"]))
    page.get_by_text("is excluded from training").wait_for(timeout=90_000)
    _settled(page)
    page.get_by_text("Metric history").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "rule_anomaly_excluded.png"), full_page=True)
    page.context.close()
