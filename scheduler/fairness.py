"""Who gets the next free worker: due ticks oldest-due first (never by name), then run requests;
no source takes every worker while another source's work waits; a suite that keeps timing out
is backed off so that it holds no worker others need.

All of it is this process's view: back-off strikes live in memory (a restart forgives them),
the per-source count covers this scheduler's own children.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.model import Suite
from ops.cron import DueWork


@dataclass
class Backoff:
    """Consecutive timeouts per suite; after n of them the suite's ticks are skipped for
    `timeout * 2**(n-1)` seconds (at most `max_seconds`). A run that ends in time clears it."""

    timeout_seconds: float
    max_seconds: float
    _strikes: dict[str, int] = field(default_factory=dict)
    _until: dict[str, float] = field(default_factory=dict)

    def strike(self, suite: str) -> float:
        """Count a timeout; returns how long the suite's ticks are now skipped."""
        strikes = self._strikes.get(suite, 0) + 1
        self._strikes[suite] = strikes
        seconds = min(self.max_seconds, self.timeout_seconds * 2 ** (strikes - 1))
        self._until[suite] = time.monotonic() + seconds
        return seconds

    def clear(self, suite: str) -> None:
        self._strikes.pop(suite, None)
        self._until.pop(suite, None)

    def strikes(self, suite: str) -> int:
        return self._strikes.get(suite, 0)

    def allows(self, suite: str, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self._until.get(suite, 0.0)


def order(due: Iterable[tuple[Suite, DueWork]], backoff: Backoff) -> list[tuple[Suite, DueWork]]:
    """Oldest-due first; suites with timeouts behind them after every suite without (then by due time)."""
    return sorted(due, key=lambda pair: (backoff.strikes(pair[0].name) > 0, pair[1].waiting_since, pair[0].name))


@dataclass
class Sources:
    """Per-source limits for one fill: a source may run `limit` suites at once while others wait;
    when no other source has work waiting it may use every free worker (nothing is kept idle)."""

    limit: int
    running: Counter[str]
    waiting: Counter[str]  # work items waiting, per source

    def may_start(self, source: str) -> bool:
        if self.running[source] < self.limit:
            return True
        return not any(n > 0 for other, n in self.waiting.items() if other != source)

    def started(self, source: str) -> None:
        self.running[source] += 1
        self.waiting[source] -= 1
