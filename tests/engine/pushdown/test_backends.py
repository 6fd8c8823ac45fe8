"""The pushdown backends against the real servers: read-only, statement timeouts, unsupported sources."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlglot

from engine.model import Layer, Source, Suite
from engine.pushdown.backend import PushdownError, PushdownTimeout, PushdownUnavailable, backend_for
from engine.reader import TableRef
from tests.conftest import connectorx_url
from tests.engine.conftest import rule

SLOW = {"sqlite": "SELECT count(*) FROM t AS a, t AS b, t AS c, t AS d, t AS e, t AS f, t AS g, t AS h, t AS i",
        "postgres": "SELECT pg_sleep(5)", "mysql": "SELECT SLEEP(5)"}


def _sqlite(tmp_path: Path) -> str:
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    return f"sqlite://{path}"


def test_sqlite_statement_past_its_timeout_is_interrupted(tmp_path: Path) -> None:
    backend = backend_for(Source("wh"), _sqlite(tmp_path), "sqlite")
    with pytest.raises(PushdownTimeout, match="ran past 0.2 s.*Hint: raise DQ_PUSHDOWN_TIMEOUT_SECONDS"):
        backend.run(sqlglot.parse_one(SLOW["sqlite"], read="sqlite"), timeout_seconds=0.2)
    assert backend.run(sqlglot.parse_one("SELECT count(*) AS n FROM t"), timeout_seconds=5).item() == 10
    backend.close()


def test_postgres_timeout_and_read_only(pg_url: str) -> None:
    backend = backend_for(Source("wh"), connectorx_url(pg_url), "postgresql")
    with pytest.raises(PushdownTimeout, match="ran past 0.3 s"):
        backend.run(sqlglot.parse_one(SLOW["postgres"], read="postgres"), timeout_seconds=0.3)
    with pytest.raises(PushdownError, match="read-only"):
        backend.run(sqlglot.parse_one("CREATE TABLE x (a int)", read="postgres"), timeout_seconds=5)
    assert backend.estimated_rows(TableRef(None, "missing")) is None
    backend.close()


def test_mariadb_timeout_and_read_only(mariadb_url: str) -> None:
    backend = backend_for(Source("wh"), connectorx_url(mariadb_url), "mysql")
    with pytest.raises(PushdownTimeout, match="ran past 0.3 s"):
        backend.run(sqlglot.parse_one(SLOW["mysql"], read="mysql"), timeout_seconds=0.3)
    with pytest.raises(PushdownError, match="(?i)read only"):
        backend.run(sqlglot.parse_one("CREATE TEMPORARY TABLE x (a int)", read="mysql"), timeout_seconds=5)
    backend.close()


def test_unsupported_source_names_the_fix() -> None:
    with pytest.raises(PushdownUnavailable, match="'wh' \\(oracle\\) does not support pushdown.*Hint: use `execution: local`"):
        backend_for(Source("wh"), "oracle://h/db", "oracle")


@pytest.mark.parametrize(("dialect", "cancelled"), [("postgresql", PushdownTimeout), ("mysql", PushdownError)])
def test_the_schedulers_cancel_reaches_a_tagged_pushdown_statement(pg_url: str, mariadb_url: str, dialect: str,
                                                                    cancelled: type[Exception]) -> None:
    """Pushdown statements carry the run's tag, so cancel_tagged (pg_cancel_backend / KILL QUERY) ends them."""
    import threading
    import time

    from engine import cancel
    from engine.sources import Location

    url = connectorx_url(pg_url if dialect == "postgresql" else mariadb_url)
    backend = backend_for(Source("wh"), url, dialect)
    cancelled_count: list[int] = []
    timer = threading.Timer(1.0, lambda: cancelled_count.append(cancel.cancel_tagged(Location("wh", dialect, url), "dq-run-77")))
    started = time.monotonic()
    timer.start()
    with cancel.budget("dq-run-77", None), pytest.raises(cancelled):
        backend.run(sqlglot.parse_one(SLOW["postgres" if dialect == "postgresql" else "mysql"], read="postgres"),
                    timeout_seconds=30)
    timer.join()
    assert cancelled_count == [1] and time.monotonic() - started < 4
    backend.close()


def test_a_pushdown_statement_past_the_runs_budget_ends_as_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from engine import cancel
    from engine.evaluate import evaluate_suite

    path = tmp_path / "big.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
        conn.execute("INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
                     "SELECT i FROM n")
    monkeypatch.setenv("DQ_TEST_BIG", f"sqlite:///{path}")
    suite = Suite(name="s", source="wh", table="t", schema=None, layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=(rule("unique", "a_unique", column="a"),), execution="pushdown")
    started = time.monotonic()
    with cancel.budget("dq-run-1", time.monotonic() + 0.6, 0.6):
        report = evaluate_suite(suite, {"wh": Source("wh", url_env="DQ_TEST_BIG")})
    assert time.monotonic() - started < 5
    result = report.results[0]
    assert result.status.value == "ERROR" and "ran past" in result.message, result.message
