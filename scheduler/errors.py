"""Exceptions of the scheduler package: one base, one-line subclasses."""


class SchedulerError(Exception):
    """Base of every scheduler error; the message names what is wrong and ends with a Hint."""


class HealthPortUnavailable(SchedulerError):
    """The health/metrics HTTP server cannot bind its address."""
