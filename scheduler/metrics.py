"""The scheduler's `/metrics` page with prometheus_client: store-derived gauges from a custom
collector, and this process's counters and histograms (telemetry.counters).

Gauges read from the store are the same on every replica (aggregate them with `max`); counters
are this process's own (aggregate with `sum(rate(...))`). A number the store does not have is
left out, never reported as a sentinel such as -1. Labels are bounded: rule, suite, source,
severity, verdict, scheduler_id, quantile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import clock
from engine.model import Severity, Suite
from engine.results import Verdict
from ops import health
from store import db, kpis, monitoring, scheduling
from telemetry import counters

log = logging.getLogger("scheduler")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RULE_LABELS = ["rule", "suite", "source", "severity"]
VERDICTS = [v.value for v in Verdict]
SEVERITIES = [s.value for s in Severity]
RESPONSE_WINDOW_HOURS = 24
SuitesProvider = Callable[[], "list[Suite] | None"]


def _gauge(name: str, doc: str, value: float | None, labels: list[str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels or [])
    if value is not None and not labels:
        family.add_metric([], float(value))
    return family


class StoreCollector(Collector):
    """Everything the store knows, read at scrape time in one read transaction per part."""

    def __init__(self, suites: SuitesProvider | None = None) -> None:
        # The scheduler's own parsed suites: a scrape never re-parses every rule definition.
        self.suites = suites or (lambda: None)

    def collect(self) -> Iterator[Metric]:
        report = health.check(suites=self.suites())
        yield _gauge("dq_healthy", "1 when the health check (/api/v1/dq/health/) passes, else 0.", int(report.healthy))
        yield _gauge("dq_store_reachable", "1 when the store answers and is migrated.", int(report.store_reachable))
        if not report.store_reachable:
            return  # nothing below can be read; absent series, not zeros that look like good news
        yield from self._scheduler(report)
        try:
            yield from self._rules()
            yield from self._response_times()
        except Exception as exc:  # noqa: BLE001 - one bad read must not blank the whole scrape
            log.warning("metrics: store read failed: %s", exc)

    def _scheduler(self, report: health.Health) -> Iterator[Metric]:
        ages = GaugeMetricFamily("dq_scheduler_heartbeat_age_seconds",
                                 "Age of each scheduler's latest heartbeat (database clock); schedulers that stopped cleanly are left out.",
                                 labels=["scheduler_id"])
        for state in report.schedulers:
            if state.status in scheduling.LIVE_STATUSES:
                ages.add_metric([state.scheduler_id], state.heartbeat_age_seconds)
        yield ages
        yield _gauge("dq_scheduler_heartbeat_stale_after_seconds", "A heartbeat older than this means its scheduler is gone.",
                     health.stale_after_seconds())
        yield _gauge("dq_schedulers_live", "Schedulers with a fresh heartbeat.", sum(1 for s in report.schedulers if s.live))
        yield _gauge("dq_run_requests_pending", "Run requests waiting for a scheduler (the worker queue length).",
                     report.pending_run_requests)
        yield _gauge("dq_run_request_oldest_age_seconds", "Age of the oldest pending run request; absent when none waits.",
                     report.oldest_pending_request_age_seconds)
        yield _gauge("dq_runs_running", "Runs in state RUNNING.", report.running_runs)
        yield _gauge("dq_overdue_suites", "Scheduled suites whose due run has not started in time.", len(report.overdue_suites))
        last = report.last_successful_run
        yield _gauge("dq_last_successful_run_age_seconds", "Seconds since the last run that completed its checks; absent when none did.",
                     None if last is None else last.age_seconds)

    def _rules(self) -> Iterator[Metric]:
        with db.read() as conn:
            states = monitoring.rule_states(conn)
            by_severity = monitoring.severity_counts(conn, states)
            now = scheduling.db_now(conn)
        verdict = GaugeMetricFamily("dq_rule_last_verdict", "1 for the verdict of the rule's latest result, 0 for the others.",
                                    labels=[*RULE_LABELS, "verdict"])
        failing = GaugeMetricFamily("dq_rule_failing_rows", "Failing rows in the rule's latest result (row-level checks).", labels=RULE_LABELS)
        observed = GaugeMetricFamily("dq_rule_observed_value", "The value the rule's latest result observed (null rate, row count, ...).",
                                     labels=RULE_LABELS)
        since = GaugeMetricFamily("dq_rule_seconds_since_last_evaluation",
                                  "Seconds since the rule was last evaluated (verdict PASSED, WARNED or FAILED: the check could run).",
                                  labels=RULE_LABELS)
        at = GaugeMetricFamily("dq_rule_last_result_timestamp_seconds", "Unix time of the rule's latest result.", labels=RULE_LABELS)
        tally = {(s, v): 0 for s in SEVERITIES for v in VERDICTS}
        for state in states:
            labels = [state.rule, state.suite, state.source, state.severity]
            if state.verdict is None:
                continue  # never ran: no verdict to report
            tally[(state.severity, state.verdict)] = tally.get((state.severity, state.verdict), 0) + 1
            for v in VERDICTS:
                verdict.add_metric([*labels, v], 1.0 if v == state.verdict else 0.0)
            if state.failing_rows is not None:
                failing.add_metric(labels, float(state.failing_rows))
            if state.observed_value is not None:
                observed.add_metric(labels, float(state.observed_value))
            if state.last_evaluated_at is not None:
                since.add_metric(labels, max(0.0, (now - state.last_evaluated_at).total_seconds()))
            if state.last_result_at is not None:
                at.add_metric(labels, state.last_result_at.timestamp())
        yield from (verdict, failing, observed, since, at)
        rules = GaugeMetricFamily("dq_rules", "Active rules by severity and the verdict of their latest result.",
                                  labels=["severity", "verdict"])
        for (severity, v), count in sorted(tally.items()):
            rules.add_metric([severity, v], count)
        yield rules
        opened = GaugeMetricFamily("dq_violations_open", "Violations not resolved (open or acknowledged), by severity.", labels=["severity"])
        unacked = GaugeMetricFamily("dq_violations_unacknowledged", "Violations open and not acknowledged, by severity.", labels=["severity"])
        errors = GaugeMetricFamily("dq_rules_error", "Active rules whose latest result is ERROR (the check could not run), by severity.",
                                   labels=["severity"])
        for severity, numbers in by_severity.items():
            opened.add_metric([severity], numbers.open)
            unacked.add_metric([severity], numbers.unacknowledged)
            errors.add_metric([severity], numbers.error_rules)
        yield from (opened, unacked, errors)

    def _response_times(self) -> Iterator[Metric]:
        window = kpis.Window.last(RESPONSE_WINDOW_HOURS, clock.utcnow())
        with db.read() as conn:
            frame = kpis.alert_response_times(conn, window)
        seconds = sorted(float(m) * 60 for m in frame["response_minutes"].to_list() if m is not None)
        family = GaugeMetricFamily(
            "dq_alert_response_seconds",
            f"The runbook's alert response time (first alert sent to acknowledged) of the violations acknowledged in the last "
            f"{RESPONSE_WINDOW_HOURS} h: median, 90th percentile and slowest; absent when none was acknowledged.",
            labels=["quantile"])
        if seconds:
            for q in (0.5, 0.9, 1.0):
                family.add_metric([f"{q:g}"], seconds[min(len(seconds) - 1, int(q * (len(seconds) - 1) + 0.5))])
        yield family
        yield _gauge("dq_alert_responses", f"Violations acknowledged after an alert in the last {RESPONSE_WINDOW_HOURS} h.", len(seconds))


class _ProcessMetrics(Collector):
    """This process's counters and histograms, from telemetry.counters.REGISTRY."""

    def collect(self) -> Iterator[Metric]:
        yield from counters.REGISTRY.collect()


def registry(suites: SuitesProvider | None = None) -> CollectorRegistry:
    """The registry one /metrics page is rendered from."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(StoreCollector(suites))
    scrape.register(_ProcessMetrics())
    return scrape


def render(scrape: CollectorRegistry) -> bytes:
    return generate_latest(scrape)
