"""E-mail over STARTTLS and SMTPS with a login, against a real aiosmtpd server with a real certificate."""

import ssl
import subprocess
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerting.deliver import deliver_due
from store import alerts as outbox
from store import db
from tests.alerting.conftest import (
    T0,
    Recorded,
    SmtpReceiver,
    _Collect,
    _free_port,
    add_violation,
    enqueue,
)

LATER = T0 + timedelta(seconds=30)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001 (aiosmtpd's callback)
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"dq", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def _serve(**kwargs) -> Iterator[SmtpReceiver]:
    state = SmtpReceiver(port=_free_port())
    controller = Controller(_Collect(state), hostname="127.0.0.1", port=state.port, **kwargs)
    controller.start()
    yield state
    controller.stop()


@pytest.fixture
def starttls_server(certificate) -> Iterator[SmtpReceiver]:
    yield from _serve(tls_context=_server_context(certificate), require_starttls=True,
                      authenticator=_authenticate, auth_required=True)


@pytest.fixture
def smtps_server(certificate) -> Iterator[SmtpReceiver]:
    # aiosmtpd only counts STARTTLS as TLS for AUTH; this whole connection is TLS already.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
        yield from _serve(ssl_context=_server_context(certificate), server_hostname="127.0.0.1",
                          authenticator=_authenticate, auth_required=True, auth_require_tls=False)


def _email_env(monkeypatch, port: int, cert: Path, **extra: str) -> None:
    values = {"DQ_SMTP_HOST": "127.0.0.1", "DQ_SMTP_PORT": str(port), "DQ_SMTP_USER": "dq",
              "DQ_SMTP_PASSWORD": "s3cret", "DQ_SMTP_CA_FILE": str(cert), "DQ_ALERT_EMAIL_TO": "oncall@company.com",
              **extra}
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _send_one_medium(policy) -> None:
    vid = add_violation("orders_amount_positive", "MEDIUM")
    enqueue(Recorded(1, opened=[vid]), type(policy)(**{**policy.__dict__, "teams": {"t": type(policy.teams["sre"])("t")}, "default_team": "t", "by_suite": {}}))


def test_starttls_with_login(sqlite_store, starttls_server, certificate, monkeypatch, policy) -> None:
    _email_env(monkeypatch, starttls_server.port, certificate[0])
    _send_one_medium(policy)
    report = deliver_due(now=LATER, policy=policy)
    assert (report.sent, report.errors) == (1, ())
    assert starttls_server.envelopes == [("dq-alerts@localhost", ["oncall@company.com"])]


def test_smtps_with_login(sqlite_store, smtps_server, certificate, monkeypatch, policy) -> None:
    _email_env(monkeypatch, smtps_server.port, certificate[0], DQ_SMTP_SSL="true", DQ_SMTP_STARTTLS="false")
    _send_one_medium(policy)
    assert deliver_due(now=LATER, policy=policy).sent == 1
    assert smtps_server.messages[0]["Subject"] == "[DQ MEDIUM] DQ: 1 new violation in silver.orders"


def test_an_untrusted_certificate_is_not_sent_to(sqlite_store, starttls_server, certificate, monkeypatch, policy) -> None:
    _email_env(monkeypatch, starttls_server.port, certificate[0], DQ_SMTP_CA_FILE="")
    _send_one_medium(policy)
    report = deliver_due(now=LATER, policy=policy)
    assert report.retrying == 1 and "CERTIFICATE_VERIFY_FAILED" in report.errors[0]
    assert starttls_server.messages == []


def test_a_server_without_starttls_is_refused_with_the_fix(sqlite_store, smtp_receiver, monkeypatch, policy) -> None:
    _email_env(monkeypatch, smtp_receiver.port, Path(""), DQ_SMTP_USER="", DQ_SMTP_CA_FILE="")
    _send_one_medium(policy)
    report = deliver_due(now=LATER, policy=policy)
    assert report.failed == 1
    with db.read() as conn:
        [row] = outbox.failed_deliveries(conn)
    assert row.last_error.startswith(f"SMTP server 127.0.0.1:{smtp_receiver.port} does not offer STARTTLS")
    assert "Hint: use DQ_SMTP_SSL=true" in row.last_error
    assert smtp_receiver.messages == []


def test_a_wrong_password_fails_for_good_without_showing_it(sqlite_store, starttls_server, certificate, monkeypatch, policy) -> None:
    _email_env(monkeypatch, starttls_server.port, certificate[0], DQ_SMTP_PASSWORD="wrong-pass")
    _send_one_medium(policy)
    report = deliver_due(now=LATER, policy=policy)
    assert report.failed == 1 and "refused the e-mail" in report.errors[0]
    assert "wrong-pass" not in report.errors[0]
