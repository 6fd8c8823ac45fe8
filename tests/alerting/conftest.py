"""Real receivers on 127.0.0.1 (an HTTP server, an SMTP server) and store rows for alerting tests."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

import clock
from alerting.policy import Policy, load_policy
from engine.model import Rule, Severity, Suite
from store import db
from store.schema import bypass_requests, violations

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class HttpReceiver:
    """Records every POST; answers with the queued statuses, then 200 (202 for /v2/enqueue)."""

    url: str
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0  # hold the answer back (a sender killed mid-request)
    received: threading.Event = field(default_factory=threading.Event)

    def bodies(self, path: str) -> list[Any]:
        return [r.body for r in self.requests if r.path == path]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    state = HttpReceiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                state.requests.append(Request(self.path, dict(self.headers), json.loads(raw)))
                status = state.statuses.pop(0) if state.statuses else (202 if self.path == "/v2/enqueue" else 200)
            state.received.set()
            time.sleep(state.delay_seconds)
            try:
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"invalid_payload")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender was killed while we held the answer back

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class SmtpReceiver:
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)


class _Collect:
    def __init__(self, state: SmtpReceiver) -> None:
        self.state = state

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's naming)
        self.state.messages.append(message_from_bytes(envelope.original_content))
        self.state.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    # aiosmtpd's Controller probes its own port on start, so it needs a concrete one.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    state = SmtpReceiver(port=_free_port())
    controller = Controller(_Collect(state), hostname="127.0.0.1", port=state.port)
    controller.start()
    yield state
    controller.stop()


@pytest.fixture
def channels_env(receiver: HttpReceiver, smtp_receiver: SmtpReceiver, monkeypatch: pytest.MonkeyPatch) -> HttpReceiver:
    """Every channel configured against the local receivers."""
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"{receiver.url}/slack/T000/B000/secret-token")
    monkeypatch.setenv("DQ_PAGERDUTY_ROUTING_KEY", "R0UTINGKEYPRIMARY")
    monkeypatch.setenv("DQ_PAGERDUTY_ROUTING_KEY_SRE", "R0UTINGKEYSECONDARY")
    monkeypatch.setenv("DQ_PAGERDUTY_EVENTS_URL", f"{receiver.url}/v2/enqueue")
    monkeypatch.setenv("DQ_WEBHOOK_URL", f"{receiver.url}/hook")
    monkeypatch.setenv("DQ_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DQ_SMTP_PORT", str(smtp_receiver.port))
    monkeypatch.setenv("DQ_SMTP_STARTTLS", "false")
    monkeypatch.setenv("DQ_ALERT_EMAIL_FROM", "dq@company.com")
    monkeypatch.setenv("DQ_CONSOLE_URL", "https://dq.company.com")
    return receiver


POLICY_YAML = """
severity_channels:
  INFO: [slack]
  LOW: [slack]
  MEDIUM: [email, slack]
  HIGH: [email, slack, pagerduty]
  CRITICAL: [email, slack, pagerduty]
every_alert_also_to: []
teams:
  data-eng:
    slack: {channel: "#data-eng-oncall"}
    email: [data-eng-oncall@company.com]
  sales:
    slack: {channel: "#sales-dq"}
    email: [sales-data@company.com]
  sre:
    slack: {channel: "#sre-oncall"}
    email: [sre-oncall@company.com]
    pagerduty: {routing_key_setting: DQ_PAGERDUTY_ROUTING_KEY_SRE}
routing:
  default_team: data-eng
  by_suite: {silver.orders: sales}
escalation:
  escalate_after_minutes: 15
  levels:
    - team: sre
      channels: [pagerduty, email]
noise:
  default_cooldown_minutes: 60
  batch_window_seconds: 30
delivery:
  max_attempts: 3
  retry_base_seconds: 30
"""


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    path = tmp_path / "alerting.yaml"
    path.write_text(POLICY_YAML)
    return load_policy(path)


@dataclass(frozen=True)
class Recorded:
    """The shape of store.results.RecordedRun (the contract enqueue_for_run reads)."""

    run_id: int
    opened: list[int] = field(default_factory=list)
    continued: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def make_suite(name: str = "silver.orders", cooldown: int | None = None, owner: str | None = None) -> Suite:
    schema, _, table = name.partition(".")
    rules = tuple(
        Rule(name=rule, suite=name, check="not_null", params={"column": "id"}, severity=severity,
             alert_cooldown_minutes=cooldown, owner=owner)
        for rule, severity in (
            ("orders_id_not_null", Severity.CRITICAL),
            ("orders_amount_positive", Severity.MEDIUM),
            ("orders_note_length", Severity.LOW),
        )
    )
    return Suite(name=name, source="warehouse", table=table, schema=schema, layer="silver",  # type: ignore[arg-type]
                 data_classes=(), pii_columns=(), rules=rules, owner=owner)


def add_violation(rule: str, severity: str, suite: str = "silver.orders", at: datetime = T0, **values: Any) -> int:
    row = dict(
        rule_name=rule, suite=suite, source="warehouse", check_type="not_null", severity=severity,
        status="open", verdict="FAILED", detected_at=at, last_seen_at=at, occurrences=1,
        first_run_id=1, last_run_id=1, observed_value=3.0, threshold="more than 0 rows",
        failing_rows=3, message=f"{rule}: 3 of 100 rows fail", acknowledged=False,
    )
    row.update(values)
    with db.write() as conn:
        return int(conn.execute(violations.insert().values(**row)).inserted_primary_key[0])


def update_violation(violation_id: int, **values: Any) -> None:
    with db.write() as conn:
        conn.execute(violations.update().where(violations.c.id == violation_id).values(**values))


def add_bypass(suite: str, expires_at: datetime, status: str = "active") -> int:
    with db.write() as conn:
        return int(conn.execute(bypass_requests.insert().values(
            suite=suite, table_name=suite, layer="silver", data_classes=[], requested_by="a@company.com",
            requested_at=clock.utcnow(), incident_id="INC-1", incident_url="https://x/INC-1",
            failure_details="f", violation_ids=[], business_impact="b", duration_hours=4,
            impact_assessment="i", rollback_plan="r", fix_timeline="t", alternative_plan="p",
            status=status, activated_at=clock.utcnow(), expires_at=expires_at,
        )).inserted_primary_key[0])


def enqueue(recorded: Recorded, policy: Policy, now: datetime = T0, suite: Suite | None = None) -> list[int]:
    from alerting import enqueue_for_run

    with db.write() as conn:
        return enqueue_for_run(conn, recorded, None, suite or make_suite(), now=now, policy=policy)


def orders_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suite_yaml: str, create: str, rows: list[tuple[Any, ...]],
) -> Path:
    """A SQLite warehouse with one silver_orders table, the suite's rules and the alert policy loaded, clock at T0."""
    from engine.manifest import load_catalog
    from store.rules import sync_catalog

    path = tmp_path / "wh.db"
    with sqlite3.connect(path) as conn:
        conn.execute(create)
        placeholders = ", ".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO silver_orders VALUES ({placeholders})", rows)
    rules, config = tmp_path / "rules", tmp_path / "config"
    rules.mkdir()
    config.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    (rules / "orders.yaml").write_text(suite_yaml)
    (config / "alerting.yaml").write_text(POLICY_YAML)
    for name, value in {"DQ_RULES_DIR": str(rules), "DQ_CONFIG_DIR": str(config),
                        "DQ_SOURCE_WAREHOUSE_URL": f"sqlite:///{path}", "DQ_NOW": T0.isoformat()}.items():
        monkeypatch.setenv(name, value)
    with db.write() as conn:
        sync_catalog(conn, load_catalog([rules], default_sources=rules / "sources.yaml"), "test")
    return path
