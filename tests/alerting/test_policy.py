import logging
from datetime import timedelta
from pathlib import Path

import pytest

import settings
from alerting.errors import PolicyError
from alerting.policy import RUNBOOK_CHANNELS, current_policy, load_policy
from tests.alerting.conftest import T0

REPO_CONFIG = Path(settings.ROOT) / "config" / "alerting.yaml"


def test_the_shipped_policy_is_the_runbooks() -> None:
    policy = load_policy(REPO_CONFIG)
    assert {s: policy.severity_channels[s] for s in RUNBOOK_CHANNELS} == {
        "INFO": ("slack",),
        "LOW": ("slack",),
        "MEDIUM": ("email", "slack"),
        "HIGH": ("email", "slack", "pagerduty"),
        "CRITICAL": ("email", "slack", "pagerduty"),
    }
    assert policy.channels_for("LOW") == ("slack", "webhook")
    assert policy.escalate_after_minutes == 15
    assert [(lvl.team, lvl.after_minutes) for lvl in policy.levels] == [("sre", 15), ("management", 60)]
    assert policy.teams["sre"].email == ("sre-oncall@company.com",)


def test_without_a_file_the_runbook_defaults_apply(tmp_path) -> None:
    policy = load_policy(tmp_path / "absent.yaml")
    assert policy.channels_for("MEDIUM") == ("email", "slack", "webhook")
    assert [(lvl.level, lvl.after_minutes, lvl.team) for lvl in policy.levels] == [(1, 15, "default")]


@pytest.mark.parametrize(
    ("suite", "owners", "team"),
    [
        ("silver.orders", ("nobody@company.com",), "sales"),  # the suite route wins
        ("gold.revenue", (None, "Finance@Company.com"), "finance"),  # the suite owner, case-insensitive
        ("gold.revenue", ("finance@company.com", "x@company.com"), "finance"),  # the rule owner first
        ("gold.revenue", (), "data-eng"),
    ],
)
def test_routing_by_suite_then_owner_then_default(tmp_path, suite, owners, team) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text(
        "teams: {data-eng: {}, sales: {}, finance: {}}\n"
        "routing:\n  default_team: data-eng\n  by_suite: {silver.orders: sales}\n"
        "  by_owner: {finance@company.com: finance}\n"
    )
    assert load_policy(path).team_for(suite, owners).name == team


def test_every_problem_is_named_with_file_line_key_and_hint(tmp_path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text(
        "severity_channels:\n"
        "  MEDIUM: [email, sms]\n"
        "  URGENT: [slack]\n"
        "teams:\n"
        "  data-eng:\n"
        "    slack: {webhook_setting: https://hooks.slack.com/services/T/B/x}\n"
        "    email: [not-an-address]\n"
        "routing:\n"
        "  default_team: nobody\n"
        "escalation:\n"
        "  escalate_after_minute: 15\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert message.startswith(f"5 problems in {path}:")
    for expected in (
        f"{path}:2 key 'severity_channels.MEDIUM': unknown value 'sms'. Hint: use any of slack, email, pagerduty, webhook",
        f"{path}:3 key 'severity_channels.URGENT': unknown key. Hint: allowed keys are INFO, LOW, MEDIUM, HIGH, CRITICAL",
        f"{path}:6 key 'teams.data-eng.slack.webhook_setting': the value is not a setting name",
        f"{path}:7 key 'teams.data-eng.email': 'not-an-address' is not an e-mail address",
        f"{path}:11 key 'escalation.escalate_after_minute': unknown key. Hint: did you mean escalate_after_minutes?",
    ):
        assert expected in message
    assert "hooks.slack.com" not in message  # a secret pasted in the wrong place is not repeated
    # Cross-references are checked once the file's shape is right.
    path.write_text("teams: {data-eng: {}}\nrouting:\n  default_team: nobody\nescalation:\n  levels:\n    - team: ghost\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert f"{path}:3 key 'routing.default_team': unknown team 'nobody'. Hint: use a team defined under `teams:` (data-eng)" in str(caught.value)
    assert f"{path}:6 key 'escalation.levels.0.team': unknown team 'ghost'" in str(caught.value)


def test_bad_yaml_and_bad_numbers_are_reported(tmp_path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text("noise: {batch_window_seconds: soon}\n")
    with pytest.raises(PolicyError, match=r"alerting.yaml:1 key 'noise.batch_window_seconds': must be a number >= 0, got 'soon'"):
        load_policy(path)
    path.write_text("teams: [unclosed\n")
    with pytest.raises(PolicyError, match="Hint: fix the YAML syntax"):
        load_policy(path)


def test_a_broken_file_never_stops_alerting(tmp_path, caplog) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text("severity_channels: {LOW: [sms]}\n")
    with caplog.at_level(logging.ERROR):
        policy = current_policy(path)
    assert policy.channels_for("LOW") == ("slack", "webhook")
    assert "key 'severity_channels.LOW': unknown value 'sms'" in caplog.text


def test_backoff_doubles_up_to_the_maximum_then_stops(tmp_path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text("delivery: {max_attempts: 5, retry_base_seconds: 30, retry_max_seconds: 100}\n")
    policy = load_policy(path)
    assert [policy.retry_at(n, T0) for n in range(1, 6)] == [
        T0 + timedelta(seconds=30), T0 + timedelta(seconds=60), T0 + timedelta(seconds=100),
        T0 + timedelta(seconds=100), None,
    ]
