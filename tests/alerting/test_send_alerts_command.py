import argparse
from datetime import timedelta

import pytest

from cli import build_parser, send_alerts
from store import alerts as outbox
from store import db
from tests.alerting.conftest import POLICY_YAML, T0, Recorded, add_violation, enqueue


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "alerting.yaml").write_text(POLICY_YAML)
    monkeypatch.setenv("DQ_CONFIG_DIR", str(folder))
    return folder


def _run(*argv: str) -> int:
    args = build_parser().parse_args(["send_alerts", *argv])
    return send_alerts.handle(args)


def test_send_alerts_delivers_once_and_reports(sqlite_store, channels_env, config_dir, monkeypatch, capsys) -> None:
    from alerting.policy import load_policy

    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), load_policy())
    monkeypatch.setenv("DQ_NOW", (T0 + timedelta(minutes=1)).isoformat())
    assert _run() == 0
    assert capsys.readouterr().out == (
        "escalations written: 0; messages sent: 1 (1 alert rows); retrying: 0; failed: 0\n"
    )
    assert len(channels_env.requests) == 1


def test_send_alerts_retries_failed_alerts_on_request(sqlite_store, channels_env, config_dir, monkeypatch, capsys) -> None:
    from alerting.policy import load_policy

    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), load_policy())
    monkeypatch.setenv("DQ_NOW", (T0 + timedelta(minutes=1)).isoformat())
    channels_env.statuses[:] = [404]
    assert _run() == 1
    assert "Slack (DQ_SLACK_WEBHOOK_URL) answered HTTP 404" in capsys.readouterr().out
    (config_dir / "roles.yaml").write_text("users:\n  oncall@company.com: [on_call]\n")
    assert _run("--retry-failed", "--actor", "oncall@company.com") == 0  # retrying needs a role, as in the console
    assert capsys.readouterr().out.startswith("queued 1 failed alert(s) again\n")
    with db.read() as conn:
        assert [a.status for a in outbox.recent(conn)] == ["sent"]


def test_check_config_names_file_line_and_key(config_dir, capsys) -> None:
    assert _run("--check-config") == 0
    assert "is valid: 3 team(s), escalation: CRITICAL sre after 15 min; HIGH sre after 15 min" in capsys.readouterr().out
    (config_dir / "alerting.yaml").write_text("severity_channels:\n  LOW: [sms]\n")
    assert _run("--check-config") == 2
    out = capsys.readouterr().out
    assert f"{config_dir / 'alerting.yaml'}:2 key 'severity_channels.LOW': unknown value 'sms'" in out


def test_the_command_is_registered() -> None:
    assert isinstance(build_parser().parse_args(["send_alerts", "--no-escalate"]), argparse.Namespace)
