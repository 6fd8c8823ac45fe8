"""Every setting of the product, read from the environment or `.streamlit/secrets.toml`.

A setting is one declaration below: name, cast, default, and the sentence that documents it
(`docs/settings.md` must mention every name; a test checks it). Values are read at call time,
so a test or a subprocess can change the environment. The environment wins over secrets.toml;
secrets.toml keys are the same upper-case names, at the top level or under `[dq]`.
Source URLs are `DQ_SOURCE_<NAME>_URL` (or `[sources] <name> = "..."` in secrets.toml).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent


class SettingsError(Exception):
    """A setting is missing or has a value that cannot be used."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{value!r} is not a boolean (use true or false)")


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else ROOT / path


@dataclass(frozen=True)
class Setting:
    name: str
    cast: Callable[[str], Any]
    default: str | None
    doc: str


_DECLARED = [
    Setting("DQ_DATA_DIR", _path, "data", "Folder for the embedded SQLite store, demo warehouse and archives."),
    Setting("DQ_STORE_URL", str, None, "SQLAlchemy URL of the store. Default: a SQLite file `dq_store.db` in DQ_DATA_DIR. PostgreSQL: `postgresql+psycopg://user@host/db`."),
    Setting("DQ_RULES_DIR", _path, "rules", "Folder of rule manifests (`*.yaml`) and `sources.yaml`."),
    Setting("DQ_CONFIG_DIR", _path, "config", "Folder of operational config: `dq.yaml`, `alerting.yaml`, `approval_matrix.yaml`, `roles.yaml`."),
    Setting("DQ_TIMEZONE", str, "UTC", "Time zone in which cron schedules are evaluated and times are shown."),
    Setting("DQ_FAILING_ROWS_SAMPLE", int, "20", "How many failing rows are kept per row-level rule and run (PII columns masked)."),
    Setting("DQ_READER", str, "auto", "How suites without `reader:` (on the suite or its source) read PostgreSQL: auto (ADBC, COPY in binary), adbc or connectorx; other databases always read through connectorx."),
    Setting("DQ_EXECUTION", str, "local", "Where suites without `execution:` run: local (Polars over a read), pushdown (SQL inside the source) or auto."),
    Setting("DQ_PUSHDOWN_AUTO_ROWS", int, "1000000", "execution: auto pushes down tables whose catalog estimate has at least this many rows."),
    Setting("DQ_PUSHDOWN_TIMEOUT_SECONDS", float, "300", "Statement timeout of each pushdown statement; one that runs longer ends the run as ERROR."),
    Setting("DQ_SPARK_URL", str, "local[2]", "The Spark that runs pushdown for Parquet sources with `pushdown: spark`: local[N], spark://host:7077, or a Spark Connect sc://host:15002."),
    Setting("DQ_SUITE_TIMEOUT_SECONDS", float, "300", "A suite that runs longer is stopped and its rules recorded as ERROR."),
    Setting("DQ_HEALTH_HOST", str, "127.0.0.1", "Bind address of the scheduler's health and metrics HTTP server."),
    Setting("DQ_HEALTH_PORT", int, "8765", "Port of the scheduler's health and metrics HTTP server (`/api/v1/dq/health/`, `/metrics`)."),
    Setting("DQ_HEARTBEAT_SECONDS", float, "5", "How often the scheduler writes its heartbeat row."),
    Setting("DQ_LEASE_SECONDS", float, "120", "How long a suite lease lasts before another scheduler may take it over (renewed while running)."),
    Setting("DQ_SCHEDULER_TICK_SECONDS", float, "1", "How often the scheduler loop looks for due suites and run requests."),
    Setting("DQ_AUTH_HEADER", str, "", "Name of a trusted reverse-proxy header carrying the user (e.g. X-Forwarded-User); empty disables it."),
    Setting("DQ_DEV_USER", str, "dev@localhost", "User name of the bannered local development mode of the console."),
    Setting("DQ_CONSOLE_URL", str, "http://localhost:8501", "Base URL of the console, used for deep links in alerts."),
    Setting("DQ_READ_PARTITIONS", int, "2", "Parallel connections per table read from PostgreSQL/MySQL (connectorx partition_on over the integer primary key); 1 disables it."),
    Setting("DQ_SCHEDULER_CONCURRENCY", int, "2", "How many suites one scheduler process runs at once, each in its own child process."),
    Setting("DQ_SOURCE_CONCURRENCY", int, "0", "How many of those may read one source at once while suites of other sources wait; 0 (default) = DQ_SCHEDULER_CONCURRENCY - 1 (at least 1), so one dead source never takes every worker."),
    Setting("DQ_TIMEOUT_BACKOFF_MAX_SECONDS", float, "3600", "A suite that keeps timing out skips its ticks for its timeout, doubled after each further timeout, up to this long; one complete run resets it."),
    Setting("DQ_SCHEDULER_STOP_SECONDS", float, "20", "On SIGTERM the scheduler waits this long for running suites, then aborts them (they run again on the next start)."),
    Setting("DQ_OVERDUE_GRACE_SECONDS", float, "300", "A scheduled tick not picked up within this many seconds makes its suite overdue and the health check fail; so does a run request left pending this long."),
    # --- alerting (docs/alerting.md); an empty endpoint means the channel is not configured ---
    Setting("DQ_SLACK_WEBHOOK_URL", str, "", "Slack incoming-webhook URL for alerts (secret); empty disables Slack unless a team names its own webhook setting."),
    Setting("DQ_SMTP_HOST", str, "", "SMTP server for alert e-mails; empty disables e-mail alerts."),
    Setting("DQ_SMTP_PORT", int, "587", "SMTP port (587 with STARTTLS, 465 with DQ_SMTP_SSL, 25 plain)."),
    Setting("DQ_SMTP_USER", str, "", "SMTP login user; empty sends without logging in."),
    Setting("DQ_SMTP_PASSWORD", str, "", "SMTP login password (secret)."),
    Setting("DQ_SMTP_STARTTLS", _bool, "true", "Upgrade the SMTP connection with STARTTLS before sending (refuses to send if the server cannot)."),
    Setting("DQ_SMTP_SSL", _bool, "false", "Connect to the SMTP server over TLS from the start (SMTPS, usually port 465)."),
    Setting("DQ_SMTP_CA_FILE", str, "", "PEM file of the CA that signed the SMTP server's certificate; empty uses the system's CAs."),
    Setting("DQ_ALERT_EMAIL_FROM", str, "dq-alerts@localhost", "Sender address of alert e-mails."),
    Setting("DQ_ALERT_EMAIL_TO", str, "", "Comma-separated default recipients of alert e-mails, for teams in alerting.yaml without an e-mail list."),
    Setting("DQ_PAGERDUTY_ROUTING_KEY", str, "", "PagerDuty Events API v2 routing (integration) key (secret); empty disables PagerDuty unless a team names its own key setting."),
    Setting("DQ_PAGERDUTY_EVENTS_URL", str, "https://events.pagerduty.com/v2/enqueue", "PagerDuty Events API v2 endpoint."),
    Setting("DQ_WEBHOOK_URL", str, "", "Generic webhook receiving every alert as JSON (secret, may carry a token); empty disables it."),
    Setting("DQ_ALERT_HTTP_TIMEOUT_SECONDS", float, "10", "Timeout of one HTTP or SMTP alert delivery attempt."),
    Setting("DQ_BYPASS_SIGNING_KEY", str, "", "Secret for the HMAC that signs the audit chain, bypasses, approvals and check results (secret; required outside dev mode; empty in dev mode = a generated per-store key file in DQ_DATA_DIR, and the gate warns). Never rotate it in place: old rows would no longer verify (docs/security.md)."),
    Setting("DQ_RETENTION_DAYS", lambda v: int(v) if v.strip() else None, "", "Days of violations, results and runs the store keeps; older ones are archived to Parquet and deleted by the scheduler once per 30-day period. Empty (default) = keep everything."),
    Setting("DQ_ARCHIVE_DIR", lambda v: _path(v) if v.strip() else None, "", "Folder for retention archives (Parquet). Default: `archive` in DQ_DATA_DIR."),
    Setting("DQ_ANOMALY_BACKFILL_BUCKETS", int, "1500", "At most this many buckets of history an anomaly rule with a `timestamp_column` backfills from its table on its first run (1500 hours is about 9 weeks)."),
    Setting("DQ_PARTITION_MIN_ROWS", int, "1000000", "Tables with fewer rows (catalog estimate) are read over one connection."),
    # --- observability (docs/operations.md) ---
    Setting("DQ_LOG_DIR", lambda v: _path(v) if v.strip() else None, "", "Folder of the rotating log files (`scheduler.log`, `cli.log`, `console.log`). Default: `logs` in DQ_DATA_DIR."),
    Setting("DQ_LOG_LEVEL", lambda v: v.strip().upper(), "INFO", "Level of the product's logs: DEBUG, INFO, WARNING or ERROR."),
    Setting("DQ_LOG_MAX_MB", float, "20", "A log file is rotated when it reaches this size."),
    Setting("DQ_LOG_BACKUPS", int, "10", "How many rotated log files are kept per program."),
    Setting("DQ_OPENLINEAGE_URL", str, "", "Base URL of an OpenLineage HTTP receiver (Marquez, DataHub, OpenMetadata); each run emits a run event with its data-quality assertions. Empty disables it."),
    Setting("DQ_OPENLINEAGE_ENDPOINT", str, "api/v1/lineage", "Path of the OpenLineage receiver's endpoint under DQ_OPENLINEAGE_URL."),
    Setting("DQ_OPENLINEAGE_API_KEY", str, "", "Bearer token for the OpenLineage receiver (secret); empty sends none."),
    Setting("DQ_OPENLINEAGE_NAMESPACE", str, "dq-console", "OpenLineage namespace of the DQ jobs (one job per suite)."),
    Setting("DQ_OPENLINEAGE_TIMEOUT_SECONDS", float, "5", "Timeout of one OpenLineage HTTP post; a receiver that is down never fails the run."),
    Setting("DQ_DEV_ALLOW_REMOTE", _bool, "false", "Let the console in dev mode (no OIDC, no DQ_AUTH_HEADER) listen on an address other than 127.0.0.1. Anyone who reaches it acts as DQ_DEV_USER."),
]

SETTINGS: dict[str, Setting] = {s.name: s for s in _DECLARED}


def _secrets_file() -> Path:
    return Path(os.environ.get("DQ_SECRETS_FILE", ROOT / ".streamlit" / "secrets.toml"))


def read_secrets() -> dict[str, Any]:
    """The parsed secrets.toml, or an empty dict when there is none."""
    path = _secrets_file()
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}. Hint: fix the TOML syntax of the secrets file.") from exc


def _raw(name: str, env: Mapping[str, str]) -> str | None:
    if name in env:
        return env[name]
    secrets = read_secrets()
    for table in (secrets, secrets.get("dq", {})):
        if isinstance(table, dict) and name in table:
            return str(table[name])
    return None


def get(name: str, env: Mapping[str, str] | None = None) -> Any:
    """The value of a declared setting, cast; the default when unset."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise SettingsError(f"unknown setting {name!r}. Hint: declare it in settings.py.")
    raw = _raw(name, os.environ if env is None else env)
    if raw is None:
        raw = setting.default
    if raw is None:
        return _computed_default(name, env)
    try:
        return setting.cast(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is invalid: {exc}. Hint: {setting.doc}") from exc


def _computed_default(name: str, env: Mapping[str, str] | None) -> Any:
    if name == "DQ_STORE_URL":
        return f"sqlite:///{get('DQ_DATA_DIR', env) / 'dq_store.db'}"
    raise SettingsError(f"{name} is not set. Hint: {SETTINGS[name].doc}")


def dev_mode(env: Mapping[str, str] | None = None) -> bool:
    """The console's bannered development mode: no OIDC (`[auth]` in secrets.toml) and no DQ_AUTH_HEADER."""
    return not get("DQ_AUTH_HEADER", env) and "auth" not in read_secrets()


def source_url(source: str, env: Mapping[str, str] | None = None) -> str | None:
    """The URL of a named source from DQ_SOURCE_<NAME>_URL or secrets.toml `[sources]`."""
    env = os.environ if env is None else env
    key = f"DQ_SOURCE_{source.upper().replace('-', '_')}_URL"
    if key in env:
        return env[key]
    sources = read_secrets().get("sources", {})
    value = sources.get(source) if isinstance(sources, dict) else None
    if isinstance(value, dict):
        value = value.get("url")
    return str(value) if value else None


def secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """A value that config names but settings.py does not declare (e.g. a team's own Slack webhook)."""
    raw = _raw(name, os.environ if env is None else env)
    return raw or None


def source_env_name(source: str) -> str:
    return f"DQ_SOURCE_{source.upper().replace('-', '_')}_URL"



# --- secrets: the one place that says what is secret and how it is masked ------------------
# Used by `manage.py settings`, the log Scrubber (telemetry/logs.py), manifest and source errors
# (engine/), health JSON and alert delivery errors: a new secret setting is masked everywhere.

SECRET_WORDS = ("PASSWORD", "KEY", "TOKEN", "SECRET", "WEBHOOK")
PUBLIC_URLS = frozenset({"DQ_CONSOLE_URL", "DQ_PAGERDUTY_EVENTS_URL"})  # documented public endpoints
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s]*)@")
USERINFO_PATTERN = _USERINFO.pattern  # for Polars' str.replace_all over exported columns
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pwd|token|key|secret|access_token|api_key|apikey|sig|signature)=)[^&\s\"']+")
_NOT_SECRETS = {"true", "false", "none", "null", "yes"}
MASK = "***"


def is_secret(name: str) -> bool:
    """Whether a setting's value is secret: a password, key, token, webhook, or any URL but the public ones."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS) or (upper.endswith("_URL") and upper not in PUBLIC_URLS)


def _whole_value_secret(name: str) -> bool:
    """A webhook URL or a token is a secret as a whole; a store or source URL only by its password."""
    return any(word in name.upper() for word in SECRET_WORDS)


def redact(name: str, value: object) -> str:
    """A setting's value as it may be shown: secrets masked (a URL keeps its scheme and host)."""
    text = "" if value is None else str(value)
    if not text or not is_secret(name):
        return text
    if not _whole_value_secret(name):
        return mask_credentials(text)
    if "://" in text:
        parts = urlsplit(text)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}/{MASK}" if host else MASK
    return MASK


def mask_credentials(text: str) -> str:
    """Text with every URL password and secret query parameter replaced by ***."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    return _QUERY_SECRET.sub(rf"\1{MASK}", text)


def url_password(url: str) -> str | None:
    match = _USERINFO.search(url)
    return match.group("password") if match and match.group("password") else None


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Every value that must never be shown, longest first: secret settings and URL passwords,
    from the environment and secrets.toml (a team's own webhook variable included)."""
    environ = os.environ if env is None else env
    found: set[str] = set()
    for name, value in environ.items():
        if name.startswith("DQ_") or _whole_value_secret(name):
            found.update(_secret_parts(name, value))
    try:
        secrets = read_secrets()
    except SettingsError:
        secrets = {}
    for key, item in _items(secrets):  # [auth] client_secret is AUTH_CLIENT_SECRET here: a secret word
        if isinstance(item, str):
            found.update(_secret_parts(key, item))
    return sorted((v for v in found if len(v) >= 4 and v.lower() not in _NOT_SECRETS), key=len, reverse=True)


def _secret_parts(name: str, value: str) -> set[str]:
    parts: set[str] = set()
    password = url_password(value)
    if password:
        parts.update({password, unquote(password)})  # an error message may show either form
    if _whole_value_secret(name):
        parts.add(value)
        path = urlsplit(value).path if "://" in value else ""
        parts.update(p for p in path.split("/") if len(p) >= 16)  # a token inside a webhook path
    return parts


def _items(table: object, prefix: str = "") -> Iterable[tuple[str, object]]:
    if isinstance(table, dict):
        for key, value in table.items():
            if isinstance(value, dict):
                yield from _items(value, f"{key}_")
            else:
                yield f"{prefix}{key}".upper(), value


def scrub(text: str, secrets: Iterable[str] | None = None) -> str:
    """The text with URL passwords, secret query parameters and every secret value masked."""
    text = mask_credentials(text)
    for secret in secret_values() if secrets is None else secrets:
        text = text.replace(secret, MASK)
    return text


def scrub_data(value: Any, secrets: Iterable[str] | None = None) -> Any:
    """A JSON-like value (health, exports) with every string scrubbed; the secret list is read once."""
    found = list(secret_values() if secrets is None else secrets)
    if isinstance(value, str):
        return scrub(value, found)
    if isinstance(value, dict):
        return {k: scrub_data(v, found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_data(v, found) for v in value]
    return value
