"""Shared fixtures: real SQLite files, fresh databases on the real PostgreSQL and MariaDB servers.

A test that needs PostgreSQL or MariaDB fails loudly when the server is down: `.ci/run`
starts them, so a green run always means the real server was exercised.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


def _fresh_database(admin_url: str, kind: str, template: str | None = None) -> Iterator[str]:
    """A new database with a unique name (a copy of `template` if given), dropped afterwards."""
    name = f"dqtest_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
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


@contextmanager
def _template_env(data: Path) -> Iterator[None]:
    """Session fixtures run before `isolated_env`: migrate a template under the tests' signing key (the
    migration signs the audit chain's head row), never with a developer's DQ_ settings."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("DQ_") and not name.startswith("DQ_TEST_"):
                patch.delenv(name)
        patch.setenv("DQ_DATA_DIR", str(data))
        patch.setenv("DQ_SECRETS_FILE", str(data / "no-secrets.toml"))
        patch.setenv("DQ_BYPASS_SIGNING_KEY", TEST_SIGNING_KEY)
        yield


def _signed_like_templates() -> bool:
    """A test that unset the key (`dev_key_file`) or set its own cannot use a store signed with the tests' key."""
    return os.environ.get("DQ_BYPASS_SIGNING_KEY") == TEST_SIGNING_KEY


@pytest.fixture(scope="session")
def sqlite_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per session: `sqlite_store` copies the file instead of migrating again."""
    from store import db, migrations

    path = tmp_path_factory.mktemp("store-template") / "dq_store.db"
    with _template_env(path.parent):
        engine = db.get_engine(f"sqlite:///{path}")
        migrations.migrate(engine)
        engine.dispose()  # the last connection closing folds the WAL back into the file
    assert not path.with_name(path.name + "-wal").exists(), "the template store still has a WAL file"
    return path


@pytest.fixture(scope="session")
def pg_store_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL database migrated once per session: `pg_store` clones it (CREATE DATABASE ... TEMPLATE)."""
    from store import db, migrations

    for url in _fresh_database(PG_ADMIN_URL, "PostgreSQL"):
        with _template_env(tmp_path_factory.mktemp("pg-template")):
            migrations.migrate(db.get_engine(url))
            db.dispose_all()  # a template cannot be cloned while anyone is connected to it
        yield str(sa.engine.make_url(url).database)


@pytest.fixture
def sqlite_store(isolated_env: Path, sqlite_store_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite store in the test's data folder (a copy of the session's template); DQ_STORE_URL points at it."""
    path = isolated_env / "dq_store.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DQ_STORE_URL", url)
    if _signed_like_templates():
        shutil.copyfile(sqlite_store_template, path)
    else:
        from store import db, migrations

        migrations.migrate(db.get_engine(url))
    return url


@pytest.fixture
def pg_store(pg_store_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated PostgreSQL store in a fresh database (a clone of the session's template); DQ_STORE_URL points at it."""
    template = pg_store_template if _signed_like_templates() else None
    for url in _fresh_database(PG_ADMIN_URL, "PostgreSQL", template=template):
        monkeypatch.setenv("DQ_STORE_URL", url)
        if template is None:
            from store import db, migrations

            migrations.migrate(db.get_engine(url))
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on a SQLite store and once on a PostgreSQL store."""
    return request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "pg_store")
