"""Prometheus text exposition of the health numbers, the store's run totals and this process's counters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ops.health import Health
from store.scheduling import RunTotals


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, value: float, labels: Mapping[str, str] | None = None) -> str:
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in (labels or {}).items())
    return f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def render(health: Health, totals: list[RunTotals], counters: Mapping[tuple[str, str], float]) -> str:
    """The /metrics page. `counters` are this process's own: (event, detail) -> count."""
    age = health.scheduler_heartbeat_age_seconds
    last = health.last_successful_run
    lines = [
        *_family("dq_healthy", "gauge", "1 when the health check passes, else 0.", [_sample("dq_healthy", int(health.healthy))]),
        *_family("dq_store_reachable", "gauge", "1 when the store answers.", [_sample("dq_store_reachable", int(health.store_reachable))]),
        *_family("dq_scheduler_heartbeat_age_seconds", "gauge", "Age of the freshest live scheduler heartbeat (database clock); -1 when none.",
                 [_sample("dq_scheduler_heartbeat_age_seconds", -1 if age is None else age)]),
        *_family("dq_run_requests_pending", "gauge", "Run requests waiting for a scheduler (the worker queue length).",
                 [_sample("dq_run_requests_pending", health.pending_run_requests)]),
        *_family("dq_runs_running", "gauge", "Runs in state RUNNING.", [_sample("dq_runs_running", health.running_runs)]),
        *_family("dq_overdue_suites", "gauge", "Scheduled suites whose due run has not started in time.",
                 [_sample("dq_overdue_suites", len(health.overdue_suites))]),
        *_family("dq_last_successful_run_age_seconds", "gauge", "Seconds since the last run that completed its checks; -1 when none.",
                 [_sample("dq_last_successful_run_age_seconds", -1 if last is None else last.age_seconds)]),
        *_family("dq_runs_total", "counter", "Runs in the store by status (FAILED = data failed checks; ERROR = checks could not run).",
                 [_sample("dq_runs_total", t.runs, {"status": t.status}) for t in totals]),
        *_family("dq_run_duration_seconds_sum", "counter", "Summed duration of the runs in the store by status.",
                 [_sample("dq_run_duration_seconds_sum", round(t.duration_seconds, 3), {"status": t.status}) for t in totals]),
        *_family("dq_scheduler_events_total", "counter", "What this scheduler process did since it started, by event.",
                 [_sample("dq_scheduler_events_total", count, {"event": event, "detail": detail})
                  for (event, detail), count in sorted(counters.items())]),
    ]
    return "\n".join(lines) + "\n"
