"""What evaluating a suite produces: one RuleResult per rule inside one SuiteReport."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASSED = "PASSED"
    WARNED = "WARNED"
    FAILED = "FAILED"
    ERROR = "ERROR"  # the check could not run (dead source, missing column, bad expression)
    SKIPPED = "SKIPPED"  # not evaluated (disabled rule)
    # An anomaly rule whose metric has too little clean history to be judged: it ran, yet it is
    # neither a pass nor a failure (KPIs leave it out, health does not count it against anyone).
    NOT_ENOUGH_HISTORY = "NO_HISTORY"

    @property
    def rank(self) -> int:
        return {"SKIPPED": 0, "NO_HISTORY": 1, "PASSED": 2, "WARNED": 3, "FAILED": 4, "ERROR": 5}[self.value]


@dataclass(frozen=True)
class RuleResult:
    rule_name: str
    check_type: str
    severity: str
    status: Verdict
    message: str  # the check's sentence with its figures, or the error with a Hint
    observed_value: float | None = None
    observed_text: str | None = None
    warn_level: str | None = None
    fail_level: str | None = None
    failing_rows: int | None = None
    rows_tested: int | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    sample: Sequence[Mapping[str, Any]] = ()  # failing rows, PII columns masked


@dataclass(frozen=True)
class SuiteReport:
    suite: str
    source: str
    started_at: datetime
    finished_at: datetime
    results: tuple[RuleResult, ...]
    rows_read: int | None = None
    error: str | None = None  # a suite-wide error (dead source), also copied into each result

    @property
    def status(self) -> Verdict:
        """The worst verdict: ERROR > FAILED > WARNED > PASSED (SKIPPED only if nothing ran).

        A rule still learning its history (NOT_ENOUGH_HISTORY) ran and found nothing wrong: for
        the run that is PASSED, so a suite of new anomaly rules is a complete run, not a stale one.
        """
        ran = [Verdict.PASSED if r.status is Verdict.NOT_ENOUGH_HISTORY else r.status for r in self.results]
        return max(ran, key=lambda v: v.rank) if ran else Verdict.SKIPPED

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.started_at).total_seconds() * 1000

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.status is verdict)
