"""Resolve a rule Source to a URL the reader understands, and keep passwords out of every message."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import settings
from engine.errors import SourceNotConfigured, SourceUnavailable
from engine.model import Source

DEMO_WAREHOUSE = "demo_warehouse.db"
# connectorx wants the backend name only; SQLAlchemy URLs carry a driver suffix (postgresql+psycopg).
_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql",
             "mysql": "mysql", "mariadb": "mysql"}


@dataclass(frozen=True)
class Location:
    """Where a source lives: its dialect (sqlite, postgresql, mysql, parquet) and its URL."""

    source: str
    dialect: str
    url: str

    def masked(self) -> str:
        return mask_url(self.url)


def resolve(source: Source, env: dict[str, str] | None = None) -> Location:
    """The Location of a source: its url_env variable, DQ_SOURCE_<NAME>_URL, secrets.toml, or the demo."""
    environ = os.environ if env is None else env
    url = environ.get(source.url_env) if source.url_env else None
    url = url or settings.source_url(source.name, env)
    if not url and source.demo:
        url = f"sqlite:///{settings.get('DQ_DATA_DIR', env) / DEMO_WAREHOUSE}"
    if not url:
        variable = source.url_env or settings.source_env_name(source.name)
        raise SourceNotConfigured(
            f"source {source.name!r} has no URL. Hint: set {variable} in the environment or "
            f"`[sources] {source.name} = \"...\"` in .streamlit/secrets.toml.")
    return Location(source.name, dialect_of(url, source.kind), normalise(url, source.kind))


def dialect_of(url: str, kind: str = "sql") -> str:
    if kind == "parquet" or "://" not in url or url.startswith(("s3://", "file://")):
        return "parquet"
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in _DIALECTS:
        raise SourceNotConfigured(
            f"unsupported source URL scheme {scheme!r} in {mask_url(url)}. Hint: use sqlite://, "
            "postgresql://, mysql:// (MariaDB too), or a Parquet path / s3:// prefix.")
    return _DIALECTS[scheme]


def normalise(url: str, kind: str = "sql") -> str:
    """connectorx's form of the URL (driver suffix dropped); Parquet paths lose a file:// prefix."""
    if dialect_of(url, kind) == "parquet":
        return url[len("file://"):] if url.startswith("file://") else url
    scheme, rest = url.split("://", 1)
    backend = _DIALECTS[scheme.split("+", 1)[0].lower()]
    if backend == "sqlite":
        # connectorx reads everything after sqlite:// as the path; SQLAlchemy's relative form would break.
        return f"sqlite://{Path(sqlite_path(url)).resolve()}"
    return f"{backend}://{rest}"


def password_of(url: str) -> str | None:
    return settings.url_password(url)


def mask_url(url: str) -> str:
    return settings.mask_credentials(url)


def mask(text: str, url: str | None = None) -> str:
    """The text with every URL password (and the given URL's password, raw or decoded) replaced by ***."""
    masked = settings.mask_credentials(text)
    password = password_of(url) if url else None
    for secret in {password, unquote(password) if password else None}:
        if secret and len(secret) >= 3:
            masked = masked.replace(secret, "***")
    return masked


def host_port(url: str) -> tuple[str, int] | None:
    """Host and port of a server URL (None for SQLite and Parquet), for a fast reachability probe."""
    dialect = dialect_of(url)
    if dialect in {"sqlite", "parquet"}:
        return None
    parts = urlsplit(url)
    default = {"postgresql": 5432, "mysql": 3306}[dialect]
    try:
        port = parts.port or default
    except ValueError:
        port = default
    return parts.hostname or "localhost", port


def mysql_params(url: str) -> dict[str, object]:
    """PyMySQL connect() keywords for a mysql:// URL (user, password, host, port, database)."""
    parts = urlsplit(url)
    return {"host": parts.hostname or "localhost", "port": parts.port or 3306,
            "user": unquote(parts.username or ""), "password": unquote(parts.password or ""),
            "database": parts.path.lstrip("/") or None}


def libpq_url(url: str) -> str:
    """The URL without connectorx's own query options (cxprotocol=...), which libpq would refuse."""
    parts = urlsplit(url)
    kept = [pair for pair in parts.query.split("&") if pair and not pair.lower().startswith("cx")]
    return parts._replace(query="&".join(kept)).geturl()


# What the drivers say when the server refused the login itself (not the network, not the table).
_AUTH_FAILURES = ("password authentication failed", "role \"", "no pg_hba.conf entry", "authentication failed",
                  "access denied for user", "(1045", "(1044", "(1698")


def check_login(location: Location, timeout_seconds: float) -> None:
    """Log in once with the source's credentials, failing within `timeout_seconds`.

    connectorx's pool retries a refused login until its own 30 s timeout and then says only
    "timed out waiting for connection"; this says what is wrong, at once.
    """
    if location.dialect not in ("postgresql", "mysql"):
        return
    try:
        if location.dialect == "postgresql":
            import psycopg

            psycopg.connect(libpq_url(location.url), connect_timeout=max(1, int(timeout_seconds))).close()
        else:
            import pymysql

            pymysql.connect(**mysql_params(location.url), connect_timeout=timeout_seconds).close()  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - both drivers raise their own OperationalError
        text = mask(str(exc), location.url)
        variable = settings.source_env_name(location.source)
        if any(needle in text.lower() for needle in _AUTH_FAILURES):
            raise SourceUnavailable(
                f"source {location.source!r} at {location.masked()} refused the login: {text.strip()}. "
                f"Hint: check the user name and password (credentials) in {variable} and that the role "
                "exists and may connect to that database.") from exc
        raise SourceUnavailable(
            f"source {location.source!r} at {location.masked()} cannot be connected to within "
            f"{timeout_seconds:g}s: {text.strip()}. Hint: check that the database is up and the host, "
            f"port and database name in {variable}.") from exc


def sqlite_path(url: str) -> str:
    """The file path of a sqlite:// URL (sqlite:///rel/path or sqlite:////abs/path, SQLAlchemy style)."""
    path = url.split("://", 1)[1]
    path = path[1:] if path.startswith("/") else path
    return path.split("?", 1)[0]
