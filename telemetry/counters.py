"""This process's own Prometheus counters and histograms: they only go up, and restart at zero with it.

Totals over many processes are Prometheus's job (`sum(rate(...))`); numbers read from the store
(open violations, last verdicts) are gauges in `scheduler.metrics`, never counters, because the
store is shared by every replica and shrinks with retention.
Labels are bounded: suite, severity, verdict, trigger, channel, outcome; never a run id or a message.
"""

from __future__ import annotations

from collections import Counter as _Counter

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes & co: the runbook's memory checks

RUN_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
RULE_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

RUNS = Counter("dq_runs", "Suite runs recorded by this process, by suite, trigger and final status.",
               ["suite", "trigger", "status"], registry=REGISTRY)
RULE_RESULTS = Counter("dq_rule_results", "Rule results recorded by this process (FAILED = bad data; ERROR = could not run).",
                       ["suite", "severity", "verdict"], registry=REGISTRY)
RUN_DURATION = Histogram("dq_run_duration_seconds", "Wall time of the suite runs recorded by this process.",
                         ["suite"], buckets=RUN_SECONDS_BUCKETS, registry=REGISTRY)
RULE_DURATION = Histogram("dq_rule_duration_seconds", "Evaluation time of single rules recorded by this process.",
                          ["suite", "severity"], buckets=RULE_SECONDS_BUCKETS, registry=REGISTRY)
TIMEOUTS = Counter("dq_suite_timeouts", "Suites this scheduler stopped at DQ_SUITE_TIMEOUT_SECONDS.", ["suite"], registry=REGISTRY)
ALERTS = Counter("dq_alerts", "Alert outbox rows this process delivered (sent), will retry (retrying) or gave up on (failed).",
                 ["channel", "severity", "outcome"], registry=REGISTRY)
LINEAGE = Counter("dq_openlineage_events", "OpenLineage run events this process posted (sent) or could not post (failed).",
                  ["outcome"], registry=REGISTRY)
SCHEDULER_EVENTS = Counter("dq_scheduler_events", "What this scheduler process did since it started, by event and detail.",
                           ["event", "detail"], registry=REGISTRY)


class EventCounter(_Counter[tuple[str, str]]):
    """The scheduler's `Counter` of (event, detail) that also counts into dq_scheduler_events_total."""

    def __setitem__(self, key: tuple[str, str], value: int) -> None:
        grown = value - self.get(key, 0)
        super().__setitem__(key, value)
        if grown > 0:
            SCHEDULER_EVENTS.labels(*key).inc(grown)
