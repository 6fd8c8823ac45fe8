"""The real HTTP and SMTP receivers of tests/alerting, for the ops tests that deliver alerts."""

from tests.alerting.conftest import channels_env, receiver, smtp_receiver  # noqa: F401 - fixtures
