"""Shared fixtures: real SQLite files, fresh databases on the real PostgreSQL and MariaDB servers.

A test that needs PostgreSQL or MariaDB fails loudly when the server is down: `.ci/run`
starts them, so a green run always means the real server was exercised.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("DQ_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEST_SIGNING_KEY = "test-only-signing-key"  # never a real secret: tests/ only
MARIADB_ADMIN_URL = os.environ.get("DQ_TEST_MARIADB_ADMIN_URL", "mysql+pymysql://root@127.0.0.1:3306/")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data folder and store; no developer settings leak in."""
    for name in list(os.environ):
        if name.startswith("DQ_") and not name.startswith("DQ_TEST_"):
            monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("DQ_DATA_DIR", str(data))
    monkeypatch.setenv("DQ_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    # Tests may freeze the gate's clock with DQ_NOW; tests/security/ unsets this to attack it.
    monkeypatch.setenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", "true")
    # One signing key for the test and every subprocess it starts, dev mode or not (a console with
    # DQ_AUTH_HEADER needs one); tests of the dev key file unset it before the store is migrated.
    monkeypatch.setenv("DQ_BYPASS_SIGNING_KEY", TEST_SIGNING_KEY)
    from store import db

    db.dispose_all()
    yield data
    db.dispose_all()


@pytest.fixture
def dev_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """No configured signing key, so dev mode generates the key file; list it before the store fixture."""
    monkeypatch.delenv("DQ_BYPASS_SIGNING_KEY", raising=False)


def _fresh_database(admin_url: str, kind: str) -> Iterator[str]:
    name = f"dqtest_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(f"{kind} is not reachable at {admin_url}: {exc}. Hint: run .ci/run or start the server.")
    url = sa.engine.make_url(admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        from store import db

        db.dispose_all()
        with admin.connect() as conn:
            if kind == "PostgreSQL":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database (dropped afterwards)."""
    yield from _fresh_database(PG_ADMIN_URL, "PostgreSQL")


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty MariaDB database (dropped afterwards)."""
    yield from _fresh_database(MARIADB_ADMIN_URL, "MariaDB")


def connectorx_url(sqlalchemy_url: str) -> str:
    """The connectorx form of a SQLAlchemy URL (driver suffix removed)."""
    url = sa.engine.make_url(sqlalchemy_url)
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)


@pytest.fixture
def sqlite_store(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite store in the test's data folder; DQ_STORE_URL points at it."""
    from store import migrations

    url = f"sqlite:///{isolated_env / 'dq_store.db'}"
    monkeypatch.setenv("DQ_STORE_URL", url)
    migrations.migrate()
    return url


@pytest.fixture
def pg_store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated PostgreSQL store in a fresh database; DQ_STORE_URL points at it."""
    from store import migrations

    monkeypatch.setenv("DQ_STORE_URL", pg_url)
    migrations.migrate()
    return pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on a SQLite store and once on a PostgreSQL store."""
    return request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "pg_store")
