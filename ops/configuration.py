"""The operational config files validated together, for `manage.py check` and the console's banner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alerting.errors import PolicyError
from alerting.policy import load_policy, policy_file
from configfile import ConfigFileError
from ops import gate, report_config, roles
from store import approval_matrix


@dataclass(frozen=True)
class FileStatus:
    path: Path
    ok: bool
    detail: str  # what the file holds, or every problem with file, line, key and Hint
    error: ConfigFileError | PolicyError | None = None


def _alerting() -> str:
    if not policy_file().is_file():
        return "absent: the runbook's escalation policy applies"
    policy = load_policy()
    return f"valid: {len(policy.teams)} team(s), {len(policy.levels)} escalation level(s)"


def _matrix() -> str:
    matrix = approval_matrix.load()
    return "valid: " + "; ".join(p.describe() for p in matrix.layers.values())


def _gate() -> str:
    config = gate.load_config()
    return f"valid: blocking {'/'.join(config.blocking_severities)}, strict_mode {str(config.strict_mode).lower()}"


def _roles() -> str:
    if not roles.roles_file().is_file():
        return "absent: nobody holds a role (the console is read-only)"
    return f"valid: {len(roles.load_roles())} user(s)"


def _reports() -> str:
    if not report_config.config_file().is_file():
        return "absent: the runbook's 9 AM health check and Monday review, no SLA recipients"
    try:
        teams = load_policy().teams  # recipients are alerting.yaml's teams
    except PolicyError:
        teams = None  # reported under alerting.yaml; its teams cannot be checked until it is fixed
    config = report_config.load(teams=teams)
    return f"valid: {len(config.reports)} scheduled report(s)"


FILES: tuple[tuple[Callable[[], Path], Callable[[], str]], ...] = (
    (policy_file, _alerting),
    (approval_matrix.matrix_file, _matrix),
    (gate.config_file, _gate),
    (roles.roles_file, _roles),
    (report_config.config_file, _reports),
)


def validate_all() -> list[FileStatus]:
    """One status per file, in a fixed order; never raises for a broken file."""
    statuses = []
    for path_of, summary in FILES:
        try:
            statuses.append(FileStatus(path_of(), True, summary()))
        except (ConfigFileError, PolicyError) as exc:
            statuses.append(FileStatus(path_of(), False, str(exc), exc))
    return statuses


def problems() -> list[ConfigFileError | PolicyError]:
    return [s.error for s in validate_all() if s.error is not None]
