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
    assert dict(policy.escalation_steps) == {"CRITICAL": (15, 60), "HIGH": (30, 120), "MEDIUM": (120,), "LOW": (1440,)}
    assert [(lvl.level, lvl.team) for lvl in policy.levels] == [(1, "sre"), (2, "management")]
    assert policy.approval_reminder_minutes == 60
    assert policy.teams["sre"].email == ("sre-oncall@company.com",)


def test_without_a_file_the_runbook_defaults_apply(tmp_path) -> None:
    policy = load_policy(tmp_path / "absent.yaml")
    assert policy.channels_for("MEDIUM") == ("email", "slack", "webhook")
    assert [(lvl.level, lvl.team) for lvl in policy.levels] == [(1, "default")]
    # the runbook's response times: P1 15 min, P2 30 min, P3 2 h, P4 24 h; INFO never escalates
    assert [policy.step_minutes(s, 1) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")] == [15, 30, 120, 1440, None]
    assert policy.step_minutes("CRITICAL", 2) is None


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
        "escalation:\n"
        "  escalate_after_minute: 15\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert message.startswith(f"5 problems in {path}:")
    assert "hooks.slack.com" not in message  # a secret pasted in the wrong place is not repeated
    for expected in (
        f"{path}:2 key 'severity_channels.MEDIUM': unknown value 'sms'. Hint: use any of slack, email, pagerduty, webhook",
        f"{path}:3 key 'severity_channels.URGENT': unknown key. Hint: allowed keys are INFO, LOW, MEDIUM, HIGH, CRITICAL",
        f"{path}:6 key 'teams.data-eng.slack.webhook_setting': the value is not a setting name",
        f"{path}:7 key 'teams.data-eng.email': 'not-an-address' is not an e-mail address",
        f"{path}:9 key 'escalation.escalate_after_minute': unknown key. Hint: did you mean escalate_after_minutes?",
    ):
        assert expected in message


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
    assert "severity_channels.LOW': unknown value 'sms'" in caplog.text


def test_backoff_doubles_up_to_the_maximum_then_stops(tmp_path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text("delivery: {max_attempts: 5, retry_base_seconds: 30, retry_max_seconds: 100}\n")
    policy = load_policy(path)
    assert [policy.retry_at(n, T0) for n in range(1, 6)] == [
        T0 + timedelta(seconds=30), T0 + timedelta(seconds=60), T0 + timedelta(seconds=100),
        T0 + timedelta(seconds=100), None,
    ]


STEPS_YAML = """
teams:
  data-eng: {}
  sre: {}
  management: {email: [manager@company.com]}
escalation:
  steps:
    CRITICAL: [5, 20]
    MEDIUM: [90]
  levels:
    - {team: sre, channels: [pagerduty, email, slack]}
    - {team: management, channels: [email]}
approvals:
  remind_after_minutes: 45
"""


def test_escalation_steps_are_set_per_severity(tmp_path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text(STEPS_YAML)
    policy = load_policy(path)
    assert [policy.step_minutes("CRITICAL", n) for n in (1, 2, 3)] == [5, 20, None]
    assert (policy.step_minutes("MEDIUM", 1), policy.step_minutes("MEDIUM", 2)) == (90, None)
    assert policy.step_minutes("HIGH", 1) is None  # left out: never escalates
    assert policy.escalation_severities == ("MEDIUM", "CRITICAL")
    assert policy.approval_reminder_minutes == 45


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("severity_channels: {HIGH: [email, sms]}\n",
         r"alerting.yaml:1 key 'severity_channels.HIGH': unknown value 'sms'. Hint: use any of slack, email, pagerduty, webhook"),
        ("teams: {sre: {}}\nrouting:\n  by_suite: {silver.orders: sales}\n",
         r"alerting.yaml:3 key 'routing.by_suite.silver.orders': unknown team 'sales'. Hint: use a team defined under `teams:` \(sre\)"),
        ("teams: {sre: {}}\nrouting:\n  default_team: nobody\n",
         r"alerting.yaml:3 key 'routing.default_team': unknown team 'nobody'. Hint: use a team defined under"),
        ("teams: {sre: {}}\nescalation:\n  levels: [{team: ops}]\n",
         r"alerting.yaml:3 key 'escalation.levels.0.team': unknown team 'ops'"),
        ("teams:\n  sre: {}\nescalation:\n  steps: {HIGH: [30]}\n  escalate_after_minutes: 15\n  levels: [{team: sre}]\n",
         r"alerting.yaml:4 key 'escalation.steps': given together with escalate_after_minutes. Hint: use per-severity `steps` alone"),
        ("teams:\n  sre: {}\nescalation:\n  steps: {HIGH: [30]}\n  levels:\n    - {team: sre, after_minutes: 10}\n",
         r"alerting.yaml:4 key 'escalation.steps': given together with levels.0.after_minutes"),
        ("escalation:\n  steps: {CRITICAL: [-5]}\n",
         r"alerting.yaml:2 key 'escalation.steps.CRITICAL': must be a number >= 1, got -5. Hint: write `CRITICAL: \[15, 60\]`"),
        ("escalation:\n  steps: {CRITICAL: [30, 15]}\n",
         r"alerting.yaml:2 key 'escalation.steps.CRITICAL': \[30.0, 15.0\] is not a list of rising minutes. Hint: e.g."),
        ("escalation:\n  steps: {URGENT: [15]}\n",
         r"alerting.yaml:2 key 'escalation.steps.URGENT': unknown key. Hint: allowed keys are INFO, LOW, MEDIUM, HIGH, CRITICAL"),
        ("approvals: {remind_after_minutes: -1}\n",
         r"alerting.yaml:1 key 'approvals.remind_after_minutes': must be a number >= 1, got -1. Hint: write `remind_after_minutes: 60`"),
        ("delivery:\n  max_atempts: 3\n",
         r"alerting.yaml:2 key 'delivery.max_atempts': unknown key. Hint: did you mean max_attempts\?"),
        ("noise: {}\nrouteing: {}\n", r"alerting.yaml:2 key 'routeing': unknown key. Hint: did you mean routing\?"),
    ],
)
def test_each_problem_is_named_with_file_line_key_and_hint(tmp_path, text: str, problem: str) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=problem):
        load_policy(path)


def test_the_legacy_single_timer_is_still_read(tmp_path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text("teams: {sre: {}}\nescalation:\n  escalate_after_minutes: 20\n  levels: [{team: sre}, {team: sre, after_minutes: 50}]\n")
    policy = load_policy(path)
    assert dict(policy.escalation_steps) == {"HIGH": (20, 50), "CRITICAL": (20, 50)}
