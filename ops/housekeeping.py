"""Housekeeping jobs the scheduler runs on its own timers (bypass expiry, alert delivery, retention).

A job is registered with `@job(every_seconds=...)`; the scheduler calls `due_jobs()` and runs
each with the current time. Jobs live beside their feature (alerting/, ops/bypass, ops/cleanup)
and are registered by importing `JOB_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

JobFn = Callable[[datetime], object]

# Modules that register housekeeping jobs when imported; a feature adds its module here.
JOB_MODULES: list[str] = [
    "alerting.jobs",
    "ops.bypass",
    "ops.approver_notices",
    "ops.retention",
    "ops.scheduled_reports",
]


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: JobFn


_JOBS: dict[str, Job] = {}


def job(every_seconds: float, name: str | None = None) -> Callable[[JobFn], JobFn]:
    def register(fn: JobFn) -> JobFn:
        job_name = name or f"{fn.__module__}.{fn.__name__}"
        _JOBS[job_name] = Job(job_name, every_seconds, fn)
        return fn

    return register


def jobs() -> list[Job]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return sorted(_JOBS.values(), key=lambda j: j.name)
