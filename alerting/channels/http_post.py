"""One JSON POST with a timeout; errors name the setting, never the URL (it may carry a token)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import settings
from alerting.errors import DeliveryFailed

_RETRYABLE_4XX = {408, 409, 425, 429}


def endpoint(setting: str, what: str) -> str:
    value = settings.secret(setting)
    if not value:
        raise DeliveryFailed(
            f"{what}: {setting} is not set any more. Hint: set it in the environment or "
            ".streamlit/secrets.toml, then retry the failed alerts (`python manage.py send_alerts --retry-failed`).",
            permanent=True,
        )
    return value


def post_json(url: str, body: Mapping[str, Any], label: str, headers: Mapping[str, str] | None = None) -> bytes:
    """POST `body` as JSON; DeliveryFailed (permanent for 4xx other than 408/409/425/429)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "dq-console-alerting", **(headers or {})},
        method="POST",
    )
    timeout = float(settings.get("DQ_ALERT_HTTP_TIMEOUT_SECONDS"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        detail = _scrub(exc.read()[:300].decode("utf-8", "replace"), url)
        permanent = 400 <= exc.code < 500 and exc.code not in _RETRYABLE_4XX
        hint = "check the setting's value" if permanent else "it is retried with backoff"
        raise DeliveryFailed(f"{label} answered HTTP {exc.code}: {detail}. Hint: {hint}.", permanent=permanent) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = _scrub(str(getattr(exc, "reason", exc)), url)
        raise DeliveryFailed(f"{label} could not be reached: {reason}. Hint: it is retried with backoff.") from None


def _scrub(text: str, url: str) -> str:
    return text.replace(url, "<secret url>").strip()
