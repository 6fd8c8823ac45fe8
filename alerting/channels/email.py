"""E-mail over SMTP (smtplib): plain, STARTTLS or SMTPS, optional login; one e-mail per batch."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from typing import Any

import settings
from alerting import messages
from alerting.errors import DeliveryFailed
from alerting.targets import email_recipients
from store.alerts import Alert


def compose(destination: str, rows: Sequence[Alert]) -> EmailMessage:
    items = messages.ordered([row.payload for row in rows])
    message = EmailMessage()
    message["From"] = str(settings.get("DQ_ALERT_EMAIL_FROM"))
    message["To"] = ", ".join(email_recipients(destination))
    message["Subject"] = f"[DQ {messages.worst_severity(items)}] {messages.headline(items)}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="dq-console")
    if messages.is_report(items):
        message.replace_header("Subject", messages.headline(items))
        message.set_content("\n\n".join(str(item.get("text") or "") + f"\n\n{item.get('link', '')}" for item in items))
        message.add_alternative(report_html(items), subtype="html")
        return message
    lines = [messages.headline(items), ""]
    for item in items:
        link = item.get("link") or item.get("incident_url")
        lines += [messages.line(item), *([f"  {link}"] if link else []), ""]
    if any(messages.event_of(item) != "notice" for item in items):
        lines.append("Acknowledge in the console to stop reminders and escalation.")
    message.set_content("\n".join(lines))
    return message


def report_html(items: Sequence[Mapping[str, Any]]) -> str:
    """The HTML part of a report e-mail: the KPI table (daily) or the review's tables (weekly), and the link."""
    parts = ["<html><body style=\"font-family: sans-serif\">"]
    for item in items:
        parts.append(f"<h2>{escape(str(item.get('title') or item.get('report')))}</h2>")
        kpis = item.get("kpis") or []
        if kpis:
            parts.append(_table(["KPI", "Value", "Target", "Status"],
                                [[k["label"], k["value"], k["target"], k["status"]] for k in kpis]))
        for name, rows in (item.get("sections") or {}).items():
            parts.append(f"<h3>{escape(name.replace('_', ' ').capitalize())}</h3>")
            parts.append(_table(list(rows[0]), [list(r.values()) for r in rows]) if rows else "<p>none</p>")
        if item.get("link"):
            link = escape(str(item["link"]), quote=True)
            parts.append(f'<p><a href="{link}">Open the panels in the console</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th align=\"left\">{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr>{head}</tr>{body}</table>"


def _tls_context() -> ssl.SSLContext:
    ca_file = str(settings.get("DQ_SMTP_CA_FILE")) or None
    return ssl.create_default_context(cafile=ca_file)


def _connect(where: str) -> smtplib.SMTP:
    host, port = str(settings.get("DQ_SMTP_HOST")), int(settings.get("DQ_SMTP_PORT"))
    timeout = float(settings.get("DQ_ALERT_HTTP_TIMEOUT_SECONDS"))
    if settings.get("DQ_SMTP_SSL"):
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=_tls_context())
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    if settings.get("DQ_SMTP_STARTTLS"):
        try:
            smtp.starttls(context=_tls_context())
        except smtplib.SMTPNotSupportedError:
            smtp.close()
            raise DeliveryFailed(
                f"{where} does not offer STARTTLS. Hint: use DQ_SMTP_SSL=true for SMTPS, "
                "or DQ_SMTP_STARTTLS=false only on a trusted network.",
                permanent=True,
            ) from None
    return smtp


def send(destination: str, rows: Sequence[Alert]) -> None:
    where = f"SMTP server {settings.get('DQ_SMTP_HOST')}:{settings.get('DQ_SMTP_PORT')}"
    try:
        with _connect(where) as smtp:
            user = str(settings.get("DQ_SMTP_USER"))
            if user:
                smtp.login(user, str(settings.get("DQ_SMTP_PASSWORD")))
            smtp.send_message(compose(destination, rows))
    except DeliveryFailed:
        raise
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryFailed(f"{where} does not support {exc}. Hint: unset DQ_SMTP_USER if it needs no login.", permanent=True) from None
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise DeliveryFailed(f"{where} refused the e-mail: {exc}. Hint: check DQ_SMTP_USER, DQ_SMTP_PASSWORD, the sender and the recipients.", permanent=True) from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise DeliveryFailed(f"{where} failed: {exc}. Hint: it is retried with backoff.") from None
