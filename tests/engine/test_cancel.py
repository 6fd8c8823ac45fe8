"""Reads under a time budget end inside the source (locked tables on the real servers), leave no
backend behind, can be cancelled from outside by their tag, and a refused login fails fast."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import cancel
from engine.errors import ReadCancelled, SourceUnavailable
from engine.evaluate import evaluate_suite
from engine.manifest import load_catalog, load_sources
from engine.model import Source, Suite
from engine.reader import AdbcReader, ConnectorxReader, TableRef
from engine.results import Verdict
from engine.sources import Location, check_login, mask_url
from tests.conftest import connectorx_url
from tests.scheduler.helpers import Lock

SUITE = """\
suite: silver.orders
source: wh
table: orders
layer: silver
rules:
  - {name: id_not_null, check: not_null, column: id, severity: HIGH}
"""


def _suite(tmp_path: Path) -> tuple[Suite, dict[str, Source]]:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "sources.yaml").write_text("sources:\n  wh: {kind: sql}\n")
    (rules / "orders.yaml").write_text(SUITE)
    catalog = load_catalog([rules], default_sources=rules / "sources.yaml")
    return catalog.suites[0], load_sources(rules / "sources.yaml")


def _orders(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER)")
        conn.exec_driver_sql("INSERT INTO orders VALUES (1, 10), (2, 20)")
    engine.dispose()


@pytest.fixture(params=["postgresql", "mariadb"])
def locked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Lock]]:
    url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    _orders(url)
    monkeypatch.setenv("DQ_SOURCE_WH_URL", connectorx_url(url))
    lock = Lock(url)
    try:
        yield connectorx_url(url), lock
    finally:
        lock.release()


def test_a_read_of_a_locked_table_ends_in_the_source_at_the_budget(locked: tuple[str, Lock], tmp_path: Path) -> None:
    url, lock = locked
    suite, sources = _suite(tmp_path)
    started = time.monotonic()
    with cancel.budget("dq-run-7", time.monotonic() + 3, 3):
        report = evaluate_suite(suite, sources)
    took = time.monotonic() - started
    (result,) = report.results
    assert result.status is Verdict.ERROR
    assert "ran longer than 3s and was stopped" in result.message and "ended in the source" in result.message
    assert 2.0 < took < 5.0
    time.sleep(0.3)
    assert lock.waiting() == 0  # the source ended the statement itself: nothing is left waiting


def test_a_hung_read_is_cancelled_from_outside_by_its_tag(locked: tuple[str, Lock]) -> None:
    url, lock = locked
    location = Location("wh", "postgresql" if url.startswith("postgresql") else "mysql", url)
    readers = [ConnectorxReader(location, partitions=1)]
    if location.dialect == "postgresql":  # ADBC's COPY carries the same tag
        readers.append(AdbcReader(location, partitions=1))
    for reader in readers:
        failure: list[BaseException] = []

        def read(reader: ConnectorxReader = reader, failure: list[BaseException] = failure) -> None:
            with cancel.budget("dq-run-8", None):  # no time limit: only a cancel can end it
                try:
                    reader.probe(TableRef(None, "orders"))
                except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                    failure.append(exc)

        thread = threading.Thread(target=read)
        thread.start()
        deadline = time.monotonic() + 10
        while lock.waiting() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock.waiting() == 1
        assert cancel.cancel_tagged(reader.location, "dq-run-9") == 0  # another run's tag touches nothing
        assert cancel.cancel_tagged(reader.location, "dq-run-8") == 1
        thread.join(10)
        assert not thread.is_alive()
        assert isinstance(failure[0], ReadCancelled), type(reader).__name__
        assert lock.waiting() == 0


def test_no_budget_means_no_tag_and_no_timeout() -> None:
    location = Location("wh", "postgresql", "postgresql://u@h/db")
    assert cancel.prepare(location, "SELECT 1", partitioned=False) == ("postgresql://u@h/db", "SELECT 1")


@pytest.mark.parametrize(("dialect", "url", "expected_url", "expected_sql"), [
    ("postgresql", "postgresql://u@h/db", "postgresql://u@h/db?options=-c%20statement_timeout%3D", "/* dq-run-1 */ SELECT 1"),
    ("postgresql", "postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?sslmode=disable&options=", "/* dq-run-1 */ SELECT 1"),
    ("mysql", "mysql://u@h/db", "mysql://u@h/db", "SET STATEMENT max_statement_time=9."),
])
def test_the_budget_becomes_the_sources_own_statement_timeout(dialect: str, url: str, expected_url: str,
                                                               expected_sql: str) -> None:
    with cancel.budget("dq-run-1", time.monotonic() + 10):
        got_url, got_sql = cancel.prepare(Location("wh", dialect, url), "SELECT 1", partitioned=False)
    assert got_url.startswith(expected_url)
    assert got_sql.startswith(expected_sql) and got_sql.endswith("/* dq-run-1 */ SELECT 1")


def test_a_used_up_budget_refuses_to_start_a_read() -> None:
    with cancel.budget("dq-run-1", time.monotonic() + 0.1), pytest.raises(SourceUnavailable, match="time budget is used up.*Hint:"):
        cancel.prepare(Location("wh", "postgresql", "postgresql://u@h/db"), "SELECT 1", partitioned=False)


@pytest.mark.parametrize("tag", ["dq-run-1 */ DROP", "DQ-RUN", "a" * 61])
def test_a_tag_that_could_escape_the_comment_is_refused(tag: str) -> None:
    with pytest.raises(ValueError, match="lower-case letters, digits and dashes"), cancel.budget(tag, None):
        pass


def _refused_fast(location: Location, secret: str) -> None:
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match=r"refused the login.*Hint: check the user name and password "
                                                r"\(credentials\) in DQ_SOURCE_WH_URL") as caught:
        ConnectorxReader(location).probe(TableRef(None, "orders"))
    assert time.monotonic() - started < 5.0  # connectorx alone: 30 s, then "timed out waiting for connection"
    assert secret not in str(caught.value) and mask_url(location.url) in str(caught.value)
    assert "table and schema names" not in str(caught.value)


def test_a_missing_role_on_postgresql_fails_at_once_naming_the_credentials(pg_url: str) -> None:
    # The test server trusts local logins, so a missing role is what it refuses.
    url = sa.engine.make_url(pg_url).set(username="dq_no_such_role", password="s3cret-pw", host="127.0.0.1")
    _refused_fast(Location("wh", "postgresql", connectorx_url(url.render_as_string(hide_password=False))), "s3cret-pw")


def test_a_wrong_password_on_mariadb_fails_at_once_naming_the_credentials(mariadb_url: str) -> None:
    role = f"dq_login_probe_{uuid.uuid4().hex[:8]}"  # unique: parallel test workers share the server
    admin = sa.create_engine(mariadb_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for host in ("%%", "localhost"):  # pymysql formats the statement: %% is %
            conn.exec_driver_sql(f"CREATE USER IF NOT EXISTS '{role}'@'{host}' IDENTIFIED BY 'right-pass'")
    try:
        url = sa.engine.make_url(mariadb_url).set(username=role, password="wrong-s3cret", host="127.0.0.1")
        _refused_fast(Location("wh", "mysql", connectorx_url(url.render_as_string(hide_password=False))), "wrong-s3cret")
    finally:
        with admin.connect() as conn:
            for host in ("%%", "localhost"):  # %% : pymysql formats the statement
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{role}'@'{host}'")
        admin.dispose()


def test_connectorx_options_do_not_reach_libpq(pg_url: str) -> None:
    url = connectorx_url(pg_url) + "?cxprotocol=cursor"
    check_login(Location("wh", "postgresql", url), 5)  # libpq would refuse "cxprotocol"


def test_an_unknown_database_is_not_called_a_credentials_problem(pg_url: str) -> None:
    url = connectorx_url(sa.engine.make_url(pg_url).set(database="no_such_db_here").render_as_string(hide_password=False))
    with pytest.raises(SourceUnavailable, match="cannot be connected to.*does not exist.*Hint: check that the database is up"):
        check_login(Location("wh", "postgresql", url), 5)
