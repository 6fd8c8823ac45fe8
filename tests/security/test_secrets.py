"""Red team, issue 12 deliverable 6: no secret setting shows in `settings`, logs, errors, health or exports.

Every secret setting is enumerated from settings.py (settings.is_secret), so a new one is covered
without touching this file; each gets its own marker and every output is grepped for every marker.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import settings
from alerting.channels.http_post import post_json
from alerting.errors import DeliveryFailed
from engine.errors import ManifestError
from engine.manifest import load_catalog
from ops import export as exports
from ops import health
from store import db, schema
from telemetry import logs
from tests.cli.inprocess import run

SECRETS = sorted(name for name in settings.SETTINGS if settings.is_secret(name))


def _value(name: str, marker: str) -> str:
    """Where a marker hides in a value of this kind: a URL's password or path, or the whole token."""
    if name.endswith("_URL") and any(word in name for word in settings.SECRET_WORDS):
        return f"http://127.0.0.1:9/hooks/{marker}"  # a webhook: the token is the path
    if name.endswith("_URL"):
        return f"postgresql+psycopg://dq:{marker}@127.0.0.1:9/db"
    return marker


@pytest.fixture
def markers(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every secret setting (and one source URL) set to a value carrying its own marker."""
    found = {name: f"mk{uuid.uuid4().hex[:18]}" for name in [*SECRETS, "DQ_SOURCE_WAREHOUSE_URL"]}
    for name, marker in found.items():
        if name != "DQ_STORE_URL":
            monkeypatch.setenv(name, _value(name, marker))
    return found


def _leaks(text: str, markers: dict[str, str]) -> list[str]:
    return [name for name, marker in markers.items() if marker in text]


def test_every_documented_secret_is_a_secret_setting() -> None:
    documented = [s.name for s in settings.SETTINGS.values() if "(secret" in s.doc or "Secret for" in s.doc]
    assert documented and [n for n in documented if not settings.is_secret(n)] == []
    assert {"DQ_SLACK_WEBHOOK_URL", "DQ_WEBHOOK_URL", "DQ_SMTP_PASSWORD", "DQ_BYPASS_SIGNING_KEY",
            "DQ_STORE_URL", "DQ_PAGERDUTY_ROUTING_KEY", "DQ_OPENLINEAGE_API_KEY"} <= set(SECRETS)
    assert not settings.is_secret("DQ_CONSOLE_URL") and not settings.is_secret("DQ_TIMEZONE")


def test_manage_settings_masks_every_secret(markers, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DQ_STORE_URL", _value("DQ_STORE_URL", markers["DQ_STORE_URL"]))
    code, out, err = run(capsys, "settings")
    assert code == 0, err
    assert _leaks(out + err, markers) == []
    assert "DQ_SLACK_WEBHOOK_URL=http://127.0.0.1/***" in out
    assert "DQ_STORE_URL=postgresql+psycopg://dq:***@127.0.0.1:9/db" in out


def test_secrets_from_secrets_toml_are_masked_too(tmp_path, monkeypatch, capsys) -> None:
    marker = f"mk{uuid.uuid4().hex[:18]}"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[dq]\nDQ_SMTP_PASSWORD = "{marker}"\n[sources]\nwh = "postgresql://u:{marker}x@h/db"\n')
    monkeypatch.setenv("DQ_SECRETS_FILE", str(secrets))
    code, out, _ = run(capsys, "settings")
    assert code == 0 and marker not in out
    assert marker not in settings.scrub(f"login {marker} to postgresql://u:{marker}x@h/db")


def test_the_log_file_masks_every_secret(markers, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DQ_LOG_DIR", str(tmp_path / "logs"))
    path = logs.configure("secrets-test")
    assert path is not None
    everything = " ".join(_value(n, m) for n, m in markers.items())
    logging.getLogger("dq.test").error("configured with %s", everything)
    try:
        raise RuntimeError(f"cannot connect with {everything}")
    except RuntimeError:
        logging.getLogger("dq.test").exception("a traceback quoting the values")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    assert "configured with" in text and "a traceback" in text
    assert _leaks(text, markers) == []


@pytest.mark.parametrize("where", ["source", "url_env"])
def test_a_manifest_error_never_echoes_a_password(tmp_path, where) -> None:
    marker = f"mk{uuid.uuid4().hex[:18]}"
    url = f"postgresql://dq:{marker}@db.internal/wh"
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n  warehouse:\n    kind: sql\n    url_env: {url if where == 'url_env' else 'DQ_SOURCE_WH_URL'}\n")
    source = url if where == "source" else "warehouse"
    (tmp_path / "orders.yaml").write_text(
        f"suite: silver.orders\nsource: '{source}'\ntable: orders\nlayer: silver\nrules:\n"
        "  - name: orders_id_not_null\n    check: not_null\n    column: id\n    severity: HIGH\n")
    with pytest.raises(ManifestError) as caught:
        load_catalog([tmp_path], default_sources=tmp_path / "sources.yaml")
    text = str(caught.value) + "".join(str(p) for p in caught.value.problems)
    assert "dq:***@db.internal" in text and marker not in text


def test_the_health_json_masks_the_store_password(pg_store, markers, monkeypatch, capsys) -> None:
    url = sa.engine.make_url(pg_store).set(password=markers["DQ_STORE_URL"])  # trust auth: any password works
    monkeypatch.setenv("DQ_STORE_URL", url.render_as_string(hide_password=False))
    report = health.check()
    assert report.store_reachable, report.problems
    assert _leaks(json.dumps(report.to_dict(), default=str), markers) == []
    code, out, err = run(capsys, "health")
    assert _leaks(out + err, markers) == []


def test_health_problems_quoting_a_secret_are_masked(sqlite_store, markers, monkeypatch) -> None:
    """A store that cannot be reached is the finding; its error must not carry the password."""
    monkeypatch.setenv("DQ_STORE_URL", _value("DQ_STORE_URL", markers["DQ_STORE_URL"]))
    report = health.check()
    assert not report.healthy and not report.store_reachable
    assert _leaks(json.dumps(report.to_dict(), default=str), markers) == []


class _EchoingReceiver(http.server.BaseHTTPRequestHandler):
    """A hostile receiver: its error body quotes the path (the webhook token) back."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = f"no hook at {self.path}".encode()
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoingReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name", [n for n in SECRETS if "WEBHOOK" in n or n == "DQ_WEBHOOK_URL"])
def test_a_failing_alert_delivery_does_not_echo_the_webhook(receiver, markers, monkeypatch, name) -> None:
    url = f"{receiver}/services/{markers[name]}?token={markers[name]}"
    monkeypatch.setenv(name, url)
    with pytest.raises(DeliveryFailed) as caught:
        post_json(url, {"text": "x"}, f"Webhook ({name})")
    assert "HTTP 404" in str(caught.value)
    assert markers[name] not in str(caught.value)


def test_an_unreachable_receiver_does_not_echo_the_webhook(markers, monkeypatch) -> None:
    url = f"http://127.0.0.1:9/services/{markers['DQ_SLACK_WEBHOOK_URL']}"
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", url)
    with pytest.raises(DeliveryFailed) as caught:
        post_json(url, {"text": "x"}, "Slack (DQ_SLACK_WEBHOOK_URL)")
    assert markers["DQ_SLACK_WEBHOOK_URL"] not in str(caught.value)


def test_an_export_masks_secrets_quoted_in_stored_text(sqlite_store, markers, tmp_path) -> None:
    everything = " ".join(_value(n, m) for n, m in markers.items() if n != "DQ_STORE_URL")
    with db.write() as conn:
        conn.execute(schema.runs.insert().values(
            suite="silver.orders", source="warehouse", trigger="schedule", status="ERROR",
            started_at=sa.func.current_timestamp(), error=f"legacy error text: {everything}"))
    for fmt in ("json", "csv"):
        target = tmp_path / f"runs.{fmt}"
        exports.export(exports.ExportRequest(kind="runs", path=target, format=fmt))
        text = target.read_text()
        assert "legacy error text" in text
        assert _leaks(text, {k: v for k, v in markers.items() if k != "DQ_STORE_URL"}) == []


def test_redact_and_scrub_are_one_rule() -> None:
    """`manage.py settings` and the log Scrubber share settings.redact/scrub: one list of what is secret."""
    assert logs.scrub("x postgresql://u:pw1234@h/db") == settings.scrub("x postgresql://u:pw1234@h/db", ())
    assert settings.redact("DQ_SMTP_PASSWORD", "hunter22") == "***"
    assert settings.redact("DQ_TIMEZONE", "UTC") == "UTC"
    assert settings.redact("DQ_OPENLINEAGE_URL", "http://u:pw@h/api?token=abc") == "http://u:***@h/api?token=***"
