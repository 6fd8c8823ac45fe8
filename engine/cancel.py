"""Time budgets for source reads, enforced inside the source, and cancelling a tagged read from outside.

A run sets a budget (`with budget("dq-run-42", deadline):`). Every read made under it is tagged
with a SQL comment naming the run and carries a per-statement timeout for what is left of the
budget: PostgreSQL's `statement_timeout` (connection option), MariaDB's `SET STATEMENT
max_statement_time=... FOR` (MySQL's `MAX_EXECUTION_TIME` hint is not used: it ignores lock waits).
The source itself ends the statement, lock waits included, so no backend outlives the run.
`cancel_tagged` is the second line: whoever stops a run (timeout, SIGINT, SIGTERM, a killed child)
cancels the tagged statements with `pg_cancel_backend` / `KILL QUERY`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import quote

from engine import hints
from engine.errors import SourceUnavailable
from engine.sources import Location, libpq_url, mask

_TAG = re.compile(r"^[a-z0-9-]{1,60}$")
# What the source keeps of the budget for the run to record its result after a cancelled read.
MARGIN_SECONDS = 0.5
CONNECT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Budget:
    tag: str  # e.g. dq-run-42; letters, digits and dashes only (it goes into SQL as a comment)
    deadline: float | None  # time.monotonic() by which every read must have ended; None = no limit
    seconds: float | None = None  # the budget as the user set it, for messages

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


_CURRENT: ContextVar[Budget | None] = ContextVar("dq_read_budget", default=None)


@contextlib.contextmanager
def budget(tag: str, deadline: float | None, seconds: float | None = None) -> Iterator[Budget]:
    """Reads in this context (this thread) are tagged `tag` and must end by `deadline`."""
    if not _TAG.match(tag):
        raise ValueError(f"read tag {tag!r} must be lower-case letters, digits and dashes")
    value = Budget(tag, deadline, seconds)
    token = _CURRENT.set(value)
    try:
        yield value
    finally:
        _CURRENT.reset(token)


def current() -> Budget | None:
    return _CURRENT.get()


def comment(tag: str) -> str:
    return f"/* {tag} */"


def prepare(location: Location, sql: str, *, partitioned: bool) -> tuple[str, str]:
    """(url, sql) for one read under the current budget: tagged, with the source's statement timeout."""
    active = current()
    if active is None or location.dialect not in ("postgresql", "mysql"):
        return location.url, sql
    left = active.remaining()
    if left is not None and left <= MARGIN_SECONDS:
        raise SourceUnavailable(
            f"source {location.source!r}: the run's time budget is used up before the read started. "
            "Hint: raise the timeout (--timeout or DQ_SUITE_TIMEOUT_SECONDS) or enable sampling.")
    tagged = hints.tagged(sql, comment(active.tag))
    if left is None:
        return location.url, tagged
    limit = left - MARGIN_SECONDS
    if location.dialect == "postgresql":
        option = quote(f"-c statement_timeout={max(1, int(limit * 1000))}", safe="")
        joiner = "&" if "?" in location.url else "?"
        return f"{location.url}{joiner}options={option}", tagged
    if partitioned:
        # connectorx rewrites a partitioned query and cannot parse SET STATEMENT; cancel_tagged covers it.
        return location.url, tagged
    return location.url, f"SET STATEMENT max_statement_time={max(0.001, limit):.3f} FOR {tagged}"


def cancel_tagged(location: Location, tag: str) -> int:
    """Cancel the statements of a run in the source (pg_cancel_backend / KILL QUERY); how many."""
    if location.dialect not in ("postgresql", "mysql") or not _TAG.match(tag):
        return 0
    needle = f"%{comment(tag)}%"
    try:
        if location.dialect == "postgresql":
            import psycopg

            with psycopg.connect(libpq_url(location.url), connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE %s AND pid <> pg_backend_pid() AND state = 'active'", (needle,)
                ).fetchall()
            return sum(1 for (done,) in rows if done)
        return _kill_mysql(location, needle)
    except Exception as exc:  # noqa: BLE001 - best effort: the statement timeout still ends the read
        raise SourceUnavailable(
            f"source {location.source!r}: cannot cancel the reads of {tag}: {mask(str(exc), location.url)}. "
            "Hint: they end by themselves at the statement timeout; grant the role the right to cancel "
            "its own queries.") from exc


def _kill_mysql(location: Location, needle: str) -> int:
    import pymysql

    from engine.sources import mysql_params

    conn = pymysql.connect(**mysql_params(location.url), connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT id FROM information_schema.processlist WHERE info LIKE %s AND id <> CONNECTION_ID()",
                           (needle,))
            ids = [int(row[0]) for row in cursor.fetchall()]
            for thread in ids:
                cursor.execute(f"KILL QUERY {thread:d}")
        return len(ids)
    finally:
        conn.close()
