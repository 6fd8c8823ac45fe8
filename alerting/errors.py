"""Exceptions of the alerting package: one base, one-line subclasses."""

import settings
from configfile import ConfigFileError


class AlertingError(Exception):
    """Base of every alerting error; the message names the file, key or channel and ends with a Hint."""


class PolicyError(AlertingError, ConfigFileError):
    """config/alerting.yaml is missing a value or has one that cannot be used (every problem, file:line, key, Hint)."""


class DeliveryFailed(AlertingError):
    """A channel refused or could not take a message; `permanent` says whether a retry can help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(settings.scrub(message))  # stored as last_error, logged, printed: never a webhook token
        self.permanent = permanent
