"""OpenLineage: a recorded run posts a run event with one data-quality assertion per rule to a real
HTTP receiver; a receiver that is down, failing or slow never fails the run and is logged and counted."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from ops import lineage
from ops.run_checks import run_suite
from telemetry import counters
from tests.alerting.conftest import HttpReceiver, receiver  # noqa: F401 - the real HTTP receiver fixture
from tests.scheduler.helpers import free_port, load_rules, sqlite_warehouse


@pytest.fixture
def suite(sqlite_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DQ_RULES_DIR", str(tmp_path / "rules"))
    monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", sqlite_warehouse(tmp_path / "wh.db"))
    load_rules(tmp_path / "rules", {"silver_orders": "0 * * * *"})
    return "silver_orders"


def _count(outcome: str) -> float:
    return counters.LINEAGE.labels(outcome)._value.get()


def test_each_run_posts_its_assertions_to_the_receiver(suite: str, receiver: HttpReceiver,  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_OPENLINEAGE_URL", receiver.url)
    monkeypatch.setenv("DQ_OPENLINEAGE_API_KEY", "ol-token-1")
    sent = _count("sent")
    summary = run_suite(suite)
    (request,) = receiver.requests
    assert request.path == "/api/v1/lineage"
    assert request.headers["Authorization"] == "Bearer ol-token-1"
    event = request.body
    assert event["eventType"] == "COMPLETE"
    assert event["job"] == {"namespace": "dq-console", "name": "silver_orders", "facets": {}}
    assert event["run"]["runId"] == lineage.run_uuid(summary.run_id)
    (dataset,) = event["inputs"]
    assert (dataset["namespace"], dataset["name"]) == ("dq-source://warehouse", "orders")
    facet = dataset["inputFacets"]["dataQualityAssertions"]
    assert facet["_schemaURL"].endswith("DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet")
    shown = {a["name"]: (a["assertion"], a["success"], a["column"], a["severity"]) for a in facet["assertions"]}
    assert shown == {"silver_orders_id_not_null": ("not_null", False, "id", "high"),
                     "silver_orders_amount_not_null": ("not_null", True, "amount", "low")}
    assert _count("sent") == sent + 1


def test_a_dry_run_emits_nothing(suite: str, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("DQ_OPENLINEAGE_URL", receiver.url)
    run_suite(suite, dry_run=True)
    assert receiver.requests == []


@pytest.mark.parametrize("trouble", ["down", "answers 500", "too slow"])
def test_a_receiver_in_trouble_never_fails_the_run(suite: str, receiver: HttpReceiver, trouble: str,  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    url = {"down": f"http://127.0.0.1:{free_port()}", "answers 500": receiver.url, "too slow": receiver.url}[trouble]
    receiver.statuses = [500, 500, 500] if trouble == "answers 500" else []
    receiver.delay_seconds = 3 if trouble == "too slow" else 0
    monkeypatch.setenv("DQ_OPENLINEAGE_URL", url)
    monkeypatch.setenv("DQ_OPENLINEAGE_TIMEOUT_SECONDS", "0.5")
    failed = _count("failed")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="dq.lineage"):
        summary = run_suite(suite)
    assert summary.recorded is not None and summary.report.status.value == "FAILED"  # recorded as always
    assert time.monotonic() - started < 6  # one retry at most, each bounded by the timeout
    assert _count("failed") == failed + 1
    (line,) = [r.getMessage() for r in caplog.records if r.name == "dq.lineage"]
    assert line.startswith(f"OpenLineage event failed: run_id={summary.run_id} suite=silver_orders")


def test_off_unless_configured(suite: str) -> None:
    assert not lineage.enabled()
    assert run_suite(suite).recorded is not None


def test_database_sources_are_named_as_openlineage_names_them(monkeypatch: pytest.MonkeyPatch, suite: str) -> None:
    from store.rules import live_suite

    monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", "postgresql+psycopg://dq:pw@db.internal/sales")
    assert lineage.dataset(live_suite(suite)) == ("postgres://db.internal:5432", "sales.public.orders")
    monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", "mysql://dq:pw@mart:3307/shop")
    assert lineage.dataset(live_suite(suite)) == ("mysql://mart:3307", "shop.orders")


def test_the_scheduler_path_posts_in_the_background(suite: str, receiver: HttpReceiver,  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from store.rules import live_suite

    summary = run_suite(suite)  # recorded without lineage
    assert summary.run_id is not None
    monkeypatch.setenv("DQ_OPENLINEAGE_URL", receiver.url)
    receiver.delay_seconds = 2
    sent = _count("sent")
    started = time.monotonic()
    lineage.emit_later(summary.report, live_suite(suite), summary.run_id)
    assert time.monotonic() - started < 0.5  # the loop goes on while the receiver takes its time
    assert receiver.received.wait(10)
    deadline = time.monotonic() + 10
    while _count("sent") == sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _count("sent") == sent + 1
    assert receiver.requests[0].body["run"]["runId"] == lineage.run_uuid(summary.run_id)
